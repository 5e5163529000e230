"""The search service: text, image bytes or a cataloged image in, ranked catalog hits out."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import faiss
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from index.catalog import SEARCHABLE, Image, ImageVector, get_searchable_image, images_by_ids
from index.factory import filtered_search_params
from index.store import IndexHolder, IndexStore, LoadedIndex
from ingest.decode import DecodeError, decode_image
from ingest.encoder import Encoder, get_encoder
from pixseek.errors import IndexNotReady, InvalidRequest, PayloadTooLarge, UnsupportedImage
from pixseek.settings import Settings
from search.text_cache import TextEmbeddingCache

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Filters:
    bucket: str | None = None
    key_prefix: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.bucket or self.key_prefix)


@dataclass(frozen=True)
class Hit:
    id: int
    bucket: str
    key: str
    score: float

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "bucket": self.bucket, "key": self.key, "score": round(self.score, 6)}


class SearchService:
    """Answers queries against the current index generation.

    One instance lives as long as the process (the API keeps one); it loads the model
    lazily and follows new index generations as the writer publishes them.

    Example:
        >>> service = SearchService(get_settings())
        >>> with session_scope(settings) as session:
        ...     hits = service.search_text(session, "a dog on a beach", k=5)
    """

    def __init__(self, settings: Settings, holder: IndexHolder | None = None) -> None:
        self.settings = settings
        self.holder = holder or IndexHolder(IndexStore(settings.index_dir), device=settings.device)
        self.text_cache = TextEmbeddingCache()

    @property
    def encoder(self) -> Encoder:
        return get_encoder(self.settings)

    def loaded_index(self) -> LoadedIndex:
        """The current index, checked against the configured model.

        Raises:
            IndexNotReady: nothing has been indexed yet.
            ModelMismatch: the index was built by another model.
        """
        loaded = self.holder.get()
        if loaded is None:
            raise IndexNotReady("nothing is indexed yet: run `pixseek ingest PATH` first")
        loaded.manifest.check_model(self.settings.model, self.settings.pretrained)
        return loaded

    def search_text(
        self,
        session: Session,
        text: str,
        *,
        k: int = 10,
        min_score: float | None = None,
        filters: Filters | None = None,
    ) -> list[Hit]:
        text = text.strip()
        if not text:
            raise InvalidRequest("the query text is empty")
        self.loaded_index()  # fail before loading the model when there is nothing to search
        vector = self.text_cache.embed(self.encoder, text)
        return self.search_vector(session, vector, k=k, min_score=min_score, filters=filters)

    def search_image_bytes(
        self,
        session: Session,
        data: bytes,
        *,
        k: int = 10,
        min_score: float | None = None,
        filters: Filters | None = None,
    ) -> list[Hit]:
        self.loaded_index()
        vector = self.embed_image_bytes(data)
        return self.search_vector(session, vector, k=k, min_score=min_score, filters=filters)

    def search_image_id(
        self,
        session: Session,
        image_id: int,
        *,
        k: int = 10,
        min_score: float | None = None,
        filters: Filters | None = None,
        include_self: bool = False,
    ) -> list[Hit]:
        get_searchable_image(session, image_id)
        blob = session.scalar(select(ImageVector.vector).where(ImageVector.image_id == image_id))
        if blob is None:
            raise IndexNotReady(f"image {image_id} has no stored embedding yet")
        vector = np.frombuffer(blob, dtype="<f4")
        exclude = set() if include_self else {image_id}
        return self.search_vector(session, vector, k=k, min_score=min_score, filters=filters, exclude=exclude)

    def embed_image_bytes(self, data: bytes, max_bytes: int | None = None) -> np.ndarray:
        """The CLS embedding of an uploaded image, decoded under the ingest limits."""
        limit = max_bytes or self.settings.max_upload_bytes
        if len(data) > limit:
            raise PayloadTooLarge(f"image is {len(data)} bytes; the limit is {limit}")
        encoder = self.encoder
        try:
            decoded = decode_image(
                data, max_pixels=self.settings.max_image_pixels, draft_size=encoder.image_size * 2
            )
        except DecodeError as exc:
            raise UnsupportedImage(exc.reason) from exc
        pixels, _ = encoder.preprocessor(decoded.image, (decoded.width, decoded.height))
        return encoder.encode_pixels(pixels[None]).cls[0]

    def search_vector(
        self,
        session: Session,
        vector: np.ndarray,
        *,
        k: int = 10,
        min_score: float | None = None,
        filters: Filters | None = None,
        exclude: set[int] | None = None,
    ) -> list[Hit]:
        """Top-k catalog hits for a query vector, best first, scores as cosine similarity."""
        if not 1 <= k <= self.settings.max_results:
            raise InvalidRequest(f"k must be between 1 and {self.settings.max_results}")
        loaded = self.loaded_index()
        # A copy: normalize_L2 works in place and `vector` may be a shared cached embedding.
        query = np.array(vector, dtype=np.float32).reshape(1, -1)
        if query.shape[1] != loaded.manifest.dim:
            raise InvalidRequest(f"query vector has dim {query.shape[1]}, index has {loaded.manifest.dim}")
        faiss.normalize_L2(query)
        exclude = exclude or set()
        params = None
        if filters is not None and filters.active:
            allowed = self._filtered_ids(session, filters)
            if not allowed:
                return []
            # Only the allowed ids are searched; an IVF index probes more lists the fewer
            # they are, so the top-k among them is found however few (index/factory.py).
            params = filtered_search_params(loaded.manifest.params, loaded.ntotal, np.asarray(allowed))
        # A few extra hits cover excluded ids and rows that changed since the index was built.
        want = min(k + len(exclude) + 8, max(loaded.ntotal, 1))
        scores, ids = loaded.search(query, want, params)
        pairs = [
            (float(s), int(i))
            for s, i in zip(scores[0], ids[0], strict=True)
            if i >= 0 and int(i) not in exclude
        ]
        if min_score is not None:
            pairs = [(s, i) for s, i in pairs if s >= min_score]
        rows = images_by_ids(session, [i for _, i in pairs])
        hits = [
            Hit(id=i, bucket=rows[i].bucket, key=rows[i].key, score=s)
            for s, i in pairs
            if i in rows and rows[i].status in SEARCHABLE
        ]
        hits.sort(key=lambda h: (-h.score, h.id))
        return hits[:k]

    def _filtered_ids(self, session: Session, filters: Filters) -> list[int]:
        stmt = select(Image.id).where(Image.status.in_(list(SEARCHABLE)))
        if filters.bucket:
            stmt = stmt.where(Image.bucket == filters.bucket)
        if filters.key_prefix:
            stmt = stmt.where(Image.key.startswith(filters.key_prefix, autoescape=True))
        return [int(i) for i in session.scalars(stmt)]
