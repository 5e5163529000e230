"""The search service: a `Query` in, one `SearchPage` of ranked catalog hits out.

The flow of one search:

1. resolve each part to a unit vector (texts through prompt templates, uploads through the
   encoder, image ids from their stored vectors) and combine them (`search.query`);
2. rank: semantic (cosine, exact top-n under any filter), keyword (full-text index), or
   hybrid (both lists fused by reciprocal rank);
3. cut the page (`offset`, `limit`) from an order that is total (score, then id), and
   explain each hit when asked.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from pixseek.core.errors import IndexNotReady, InvalidRequest, PayloadTooLarge, UnsupportedImage
from pixseek.core.settings import Settings
from pixseek.index.catalog import Image, ImageVector, get_searchable_image, images_by_ids
from pixseek.index.store import IndexHolder, IndexStore, LoadedIndex
from pixseek.index.text import KeywordQuery, keyword_count, keyword_search
from pixseek.index.tokenize import same_name, words
from pixseek.media.decode import DecodeError, decode_image
from pixseek.model.encoder import Encoder, get_encoder
from pixseek.model.identity import ModelId
from pixseek.search import semantic
from pixseek.search.filters import Filters, conditions
from pixseek.search.fusion import reciprocal_rank_fusion
from pixseek.search.prompts import TextEmbedder, check_templates
from pixseek.search.query import (
    Combined,
    Hit,
    ImageIdPart,
    ImagePart,
    Mode,
    Part,
    PartScore,
    Query,
    SearchPage,
    TextPart,
    VectorPart,
    check_parts,
    combine,
    explain,
    part_label,
)

__all__ = ["Filters", "Hit", "Mode", "Query", "SearchPage", "SearchService"]

log = logging.getLogger(__name__)

ID_CHUNK = 10_000


@dataclass
class _Resolved:
    combined: Combined
    labels: list[str]
    exclude_ids: set[int] = field(default_factory=set)
    exclude_shas: set[str] = field(default_factory=set)


@dataclass
class _KeywordRanking:
    order: list[int]  # best first, exact name matches leading
    relevance: dict[int, float]
    exact: set[int]


def _exclusions(ids: set[int], shas: set[str]) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if ids:
        out.append(Image.id.notin_(sorted(ids)))
    if shas:
        out.append(or_(Image.sha256.is_(None), Image.sha256.notin_(sorted(shas))))
    return out


def _keyword_query(parts: Sequence[Part]) -> KeywordQuery:
    texts = [p for p in parts if isinstance(p, TextPart)]
    return KeywordQuery(
        groups=[w for p in texts if p.weight > 0 and (w := words(p.text))],
        exclude=[w for p in texts if p.weight < 0 and (w := words(p.text))],
    )


class SearchService:
    """Answers queries against the catalog and the current index generation.

    One instance lives as long as the process (the API keeps one); it loads the model
    lazily and follows new index generations as the writer publishes them.

    Example:
        >>> service = SearchService(get_settings())
        >>> query = Query(parts=(TextPart("beach"), TextPart("people", -0.5)), limit=5)
        >>> with session_scope(settings) as session:
        ...     page = service.search(session, query)
    """

    def __init__(self, settings: Settings, holder: IndexHolder | None = None) -> None:
        self.settings = settings
        self.holder = holder or IndexHolder(IndexStore(settings.index_dir), device=settings.device)
        self.texts = TextEmbedder(settings.prompt_max_words)

    @property
    def encoder(self) -> Encoder:
        return get_encoder(self.settings)

    @property
    def model_id(self) -> str:
        """The configured model as the catalog stores it."""
        return ModelId.of(self.settings).key

    def loaded_index(self) -> LoadedIndex:
        """The current index, checked against the configured model.

        Raises:
            IndexNotReady: nothing has been indexed yet.
            ModelMismatch: the index was built by another model.
        """
        loaded = self.holder.get()
        if loaded is None:
            raise IndexNotReady("nothing is indexed yet: run `pixseek ingest PATH` first")
        loaded.manifest.check_model(ModelId.of(self.settings))
        return loaded

    # -- the one entry point ------------------------------------------------------------

    def search(self, session: Session, query: Query) -> SearchPage:
        """One page of results for `query`.

        Args:
            session: a catalog session (read only).
            query: parts, filters, mode, page and options; see `search.query.Query`.

        Returns:
            The hits of the page, best first, and the total where it is cheap.

        Raises:
            InvalidRequest: an invalid part, weight, page or filter.
            ImageNotFound: an image id part that is not in the index.
            IndexNotReady: nothing indexed yet (semantic and hybrid modes).
            UnsupportedImage, PayloadTooLarge: an uploaded image part.
        """
        self._check(query)
        if query.mode is Mode.KEYWORD:
            return self._keyword_page(session, query)
        resolved = self._resolve(session, query)
        if query.mode is Mode.HYBRID:
            return self._hybrid_page(session, query, resolved)
        ranked = self._semantic(session, query, resolved, query.offset + query.limit)
        page_ids = [int(i) for i in ranked.ids[query.offset :]]
        scores = dict(zip(page_ids, (float(s) for s in ranked.scores[query.offset :]), strict=True))
        rows = images_by_ids(session, page_ids)
        hits = [
            Hit(id=i, bucket=rows[i].bucket, key=rows[i].key, score=scores[i], similarity=scores[i])
            for i in page_ids
            if i in rows
        ]
        if query.explain:
            self._explain(session, hits, resolved)
        return SearchPage(hits, ranked.total, query.offset, query.limit, query.mode)

    def query_vector(self, session: Session, query: Query) -> np.ndarray:
        """The normalised combined vector of a query's parts (for searches other than this one's)."""
        self._check(query)
        return self._resolve(session, query).combined.vector

    def _check(self, query: Query) -> None:
        check_parts(query.parts)
        if not 1 <= query.limit <= self.settings.max_results:
            raise InvalidRequest(f"limit must be between 1 and {self.settings.max_results}")
        if not 0 <= query.offset <= self.settings.max_offset:
            raise InvalidRequest(f"offset must be between 0 and {self.settings.max_offset}")
        if query.min_score is not None and not -1.0 <= query.min_score <= 1.0:
            raise InvalidRequest("min_score is a cosine similarity, between -1 and 1")
        if query.templates is not None:
            check_templates(query.templates)
        if query.mode is not Mode.SEMANTIC and query.offset + query.limit > self.settings.fusion_depth:
            depth = self.settings.fusion_depth
            raise InvalidRequest(f"{query.mode} results go {depth} deep: offset + limit must not exceed it")
        if query.mode is Mode.KEYWORD:
            if not any(isinstance(p, TextPart) and p.weight > 0 for p in query.parts):
                raise InvalidRequest("keyword mode needs a text part with a positive weight")
            if any(not isinstance(p, TextPart) for p in query.parts):
                raise InvalidRequest("keyword mode matches words only: use semantic or hybrid for images")
            if query.min_score is not None:
                raise InvalidRequest("min_score is a cosine similarity: it applies to semantic and hybrid")

    # -- parts -> query vector ----------------------------------------------------------

    def _resolve(self, session: Session, query: Query) -> _Resolved:
        loaded = self.loaded_index()  # fail before loading the model when there is nothing to search
        templates = self.settings.prompt_templates if query.templates is None else query.templates
        vectors: list[np.ndarray] = []
        exclude_ids: set[int] = set()
        exclude_shas: set[str] = set()
        for i, part in enumerate(query.parts):
            if isinstance(part, TextPart):
                vector = self.texts.embed(self.encoder, part.text.strip(), templates)
            elif isinstance(part, ImagePart):
                vector = self.embed_image_bytes(part.data)
                if part.weight > 0:
                    exclude_shas.add(hashlib.sha256(part.data).hexdigest())
            elif isinstance(part, ImageIdPart):
                image = get_searchable_image(session, part.image_id)
                blob = session.scalar(
                    select(ImageVector.vector).where(
                        ImageVector.image_id == part.image_id, ImageVector.model == self.model_id
                    )
                )
                if blob is None:
                    raise IndexNotReady(f"image {part.image_id} has no stored embedding for this model yet")
                vector = np.frombuffer(blob, dtype="<f4")
                if part.weight > 0:
                    exclude_ids.add(part.image_id)
                    if image.sha256:
                        exclude_shas.add(image.sha256)
            else:
                vector = np.asarray(part.vector, dtype=np.float32).reshape(-1)
            if vector.shape[0] != loaded.manifest.dim:
                dim = loaded.manifest.dim
                raise InvalidRequest(f"part {i} has dim {vector.shape[0]}, the index has {dim}")
            vectors.append(vector)
        weights = np.array([p.weight for p in query.parts], dtype=np.float64)
        return _Resolved(
            combined=combine(np.stack(vectors), weights),
            labels=[part_label(p) for p in query.parts],
            exclude_ids=set() if query.include_query_images else exclude_ids,
            exclude_shas=exclude_shas if query.exclude_duplicates else set(),
        )

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

    # -- ranking --------------------------------------------------------------------------

    def _semantic(self, session: Session, query: Query, resolved: _Resolved, n: int) -> semantic.Ranked:
        """The top-n by cosine among searchable images that pass the filters.

        Unfiltered: the index, dropping rows that changed since it was built. Filtered: the
        index with an id selector, which skips the other ids; that is exact on a flat index.
        On an approximate index (IVF, HNSW) a selective filter would lose recall, so a
        subset of at most `search_exact_max` images is scored by brute force over its
        stored vectors instead (docs/benchmarks.md has the measurements).
        """
        loaded = self.loaded_index()
        dim = loaded.manifest.dim
        conds = conditions(query.filters, self.model_id)
        conds += _exclusions(resolved.exclude_ids, resolved.exclude_shas)
        q = resolved.combined.vector
        if not query.filters.active:
            total = int(session.scalar(select(func.count()).select_from(Image).where(*conds)) or 0)
            ranked = semantic.index_top(
                loaded,
                q,
                n,
                accept=lambda ids: self._passing(session, ids, conds),
                min_score=query.min_score,
            )
            return replace(ranked, total=total if query.min_score is None else None)
        allowed = np.fromiter(session.scalars(select(Image.id).where(*conds)), dtype=np.int64)
        if allowed.size <= self.settings.search_exact_max and not semantic.is_exact(loaded.index):
            ids, vectors = semantic.stored_vectors(session, allowed, self.model_id, dim)
            return semantic.exact_top(vectors, ids, q, n, query.min_score)
        ranked = semantic.index_top(loaded, q, n, allowed=allowed, min_score=query.min_score)
        return replace(ranked, total=int(allowed.size) if query.min_score is None else None)

    def _passing(self, session: Session, ids: np.ndarray, conds: list[ColumnElement[bool]]) -> np.ndarray:
        """Which of `ids` meet `conds` now (the index can lag the catalog)."""
        found: set[int] = set()
        values = [int(i) for i in ids]
        for start in range(0, len(values), ID_CHUNK):
            part = values[start : start + ID_CHUNK]
            found.update(int(i) for i in session.scalars(select(Image.id).where(Image.id.in_(part), *conds)))
        return np.fromiter((i in found for i in values), dtype=bool, count=len(values))

    def _keyword_ranking(
        self, session: Session, query: Query, exclusions: list[ColumnElement[bool]]
    ) -> _KeywordRanking:
        """Keyword matches, best first, with exact file-name matches moved to the top."""
        matches = keyword_search(
            session,
            _keyword_query(query.parts),
            conditions(query.filters) + exclusions,
            self.settings.fusion_depth,
        )
        rows = images_by_ids(session, [i for i, _ in matches])
        texts = [p.text for p in query.parts if isinstance(p, TextPart) and p.weight > 0]
        exact = {i for i, _ in matches if i in rows and any(same_name(t, rows[i].key) for t in texts)}
        ranked = [i for i, _ in matches]
        return _KeywordRanking(
            order=[i for i in ranked if i in exact] + [i for i in ranked if i not in exact],
            relevance=dict(matches),
            exact=exact,
        )

    def _keyword_page(self, session: Session, query: Query) -> SearchPage:
        ranking = self._keyword_ranking(session, query, [])
        page = ranking.order[query.offset : query.offset + query.limit]
        rows = images_by_ids(session, page)
        hits = [
            Hit(
                id=i,
                bucket=rows[i].bucket,
                key=rows[i].key,
                score=ranking.relevance[i],
                keyword_score=ranking.relevance[i],
                keyword_rank=query.offset + rank,
                exact_name=i in ranking.exact,
            )
            for rank, i in enumerate(page, 1)
            if i in rows
        ]
        total = keyword_count(session, _keyword_query(query.parts), conditions(query.filters))
        return SearchPage(hits, total, query.offset, query.limit, query.mode)

    def _hybrid_page(self, session: Session, query: Query, resolved: _Resolved) -> SearchPage:
        depth = self.settings.fusion_depth
        sem = self._semantic(session, query, resolved, depth)
        exclusions = _exclusions(resolved.exclude_ids, resolved.exclude_shas)
        keyword = self._keyword_ranking(session, query, exclusions)
        fused = reciprocal_rank_fusion([[int(i) for i in sem.ids], keyword.order], self.settings.fusion_k)
        exact = keyword.exact
        fused.sort(key=lambda f: (f.id not in exact, -f.score, f.id))
        page = fused[query.offset : query.offset + query.limit]
        rows = images_by_ids(session, [f.id for f in page])
        vectors = semantic.vectors_by_id(session, [f.id for f in page], self.model_id)
        hits: list[Hit] = []
        for f in page:
            if f.id not in rows:
                continue
            vector = vectors.get(f.id)
            hits.append(
                Hit(
                    id=f.id,
                    bucket=rows[f.id].bucket,
                    key=rows[f.id].key,
                    score=f.score,
                    similarity=float(vector @ resolved.combined.vector) if vector is not None else None,
                    semantic_rank=f.ranks[0],
                    keyword_rank=f.ranks[1],
                    exact_name=f.id in exact,
                )
            )
        if query.explain:
            self._explain(session, hits, resolved, vectors)
        return SearchPage(hits, len(fused), query.offset, query.limit, query.mode)

    def _explain(
        self,
        session: Session,
        hits: list[Hit],
        resolved: _Resolved,
        vectors: dict[int, np.ndarray] | None = None,
    ) -> None:
        """Attach each hit's score per query part (from its stored vector)."""
        if vectors is None:
            vectors = semantic.vectors_by_id(session, [h.id for h in hits], self.model_id)
        with_vector = [h for h in hits if h.id in vectors]
        if not with_vector:
            return
        sims, contributions = explain(resolved.combined, np.stack([vectors[h.id] for h in with_vector]))
        for row, hit in enumerate(with_vector):
            hit.parts = [
                PartScore(
                    part=p,
                    label=resolved.labels[p],
                    weight=float(resolved.combined.weights[p]),
                    similarity=float(sims[row, p]),
                    contribution=float(contributions[row, p]),
                )
                for p in range(len(resolved.labels))
            ]

    # -- the single-part shapes the first API offered ---------------------------------------

    def similar(
        self,
        session: Session,
        image_id: int,
        *,
        limit: int = 10,
        offset: int = 0,
        min_score: float | None = None,
        filters: Filters | None = None,
        include_self: bool = False,
        exclude_duplicates: bool = False,
        explain: bool = False,
    ) -> SearchPage:
        """Images like a cataloged one; itself left out unless `include_self`, and its exact
        duplicates (same sha256) too with `exclude_duplicates`."""
        query = Query(
            parts=(ImageIdPart(image_id),),
            filters=filters or Filters(),
            limit=limit,
            offset=offset,
            min_score=min_score,
            explain=explain,
            include_query_images=include_self,
            exclude_duplicates=exclude_duplicates,
        )
        return self.search(session, query)

    def search_text(
        self,
        session: Session,
        text: str,
        *,
        k: int = 10,
        min_score: float | None = None,
        filters: Filters | None = None,
    ) -> list[Hit]:
        query = Query(parts=(TextPart(text),), filters=filters or Filters(), limit=k, min_score=min_score)
        return self.search(session, query).hits

    def search_image_bytes(
        self,
        session: Session,
        data: bytes,
        *,
        k: int = 10,
        min_score: float | None = None,
        filters: Filters | None = None,
    ) -> list[Hit]:
        query = Query(parts=(ImagePart(data),), filters=filters or Filters(), limit=k, min_score=min_score)
        return self.search(session, query).hits

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
        return self.similar(
            session, image_id, limit=k, min_score=min_score, filters=filters, include_self=include_self
        ).hits

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
        query = Query(parts=(VectorPart(vector),), filters=filters or Filters(), limit=k, min_score=min_score)
        self._check(query)
        resolved = self._resolve(session, query)
        resolved.exclude_ids |= exclude or set()
        ranked = self._semantic(session, query, resolved, k)
        rows = images_by_ids(session, [int(i) for i in ranked.ids])
        return [
            Hit(id=int(i), bucket=rows[i].bucket, key=rows[i].key, score=float(s), similarity=float(s))
            for i, s in zip(ranked.ids, ranked.scores, strict=True)
            if int(i) in rows
        ]
