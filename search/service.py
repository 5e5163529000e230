"""The search service: a `Query` in, one `SearchPage` of ranked catalog hits out.

The flow of one search, one file per step:

1. resolve each part to a unit vector (texts through prompt templates, uploads through the
   encoder, image ids from their stored vectors) and combine them (`search/resolve.py`,
   the arithmetic in `search/query.py`);
2. rank: semantic (cosine, exact top-n under any filter: `search/ranking.py`), keyword
   (full-text index: `search/keyword.py`), or hybrid (both lists fused by reciprocal rank:
   `search/hybrid.py`);
3. cut the page (`offset`, `limit`) from an order that is total (score, then id), and
   explain each hit when asked (`search/explain.py`); with `facets`, count the tags of the
   whole result set (`search/facets.py`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import numpy as np
from sqlalchemy.orm import Session

from pixseek.core.active_model import follow_switch
from pixseek.core.errors import IndexNotReady, InvalidRequest
from pixseek.core.settings import Settings
from pixseek.index.vectors.store import IndexHolder, IndexStore, LoadedIndex
from pixseek.model.encoder import Encoder, get_encoder
from pixseek.model.identity import ModelId
from pixseek.search.filters import Filters
from pixseek.search.hybrid import hybrid_page
from pixseek.search.keyword import keyword_page
from pixseek.search.moments import with_moments
from pixseek.search.newest import newest_page
from pixseek.search.prompts import TextEmbedder, check_templates
from pixseek.search.query import (
    Hit,
    ImageIdPart,
    Mode,
    Order,
    Query,
    SearchPage,
    TextPart,
    VectorPart,
    check_parts,
)
from pixseek.search.ranking import semantic_page
from pixseek.search.resolve import Resolved, embed_image_bytes, resolve_query

__all__ = ["Filters", "Hit", "Mode", "Query", "SearchPage", "SearchService"]

log = logging.getLogger(__name__)


def _moments_of(session: Session, page: SearchPage) -> SearchPage:
    """A page's video hits named as moments, one hit per video within the page (search/moments.py)."""
    return replace(page, hits=with_moments(session, page.hits))


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

    def __init__(
        self,
        settings: Settings,
        holder: IndexHolder | None = None,
        *,
        switch_check_seconds: float = 1.0,
        follow: bool = True,
    ) -> None:
        self.configured = settings
        self.settings = settings
        self.holder = holder or IndexHolder(IndexStore(settings.index_dir), device=settings.device)
        self.texts = TextEmbedder(settings.prompt_max_words, settings.max_text_chars)
        self._switch_check_seconds = switch_check_seconds
        # False pins the generation of `settings` (`pixseek eval` of a generation not yet served).
        self._follow = follow
        self._next_switch_check = 0.0
        self.follow_switch()

    def follow_switch(self) -> None:
        """Serve the generation `pixseek reindex` switched to, if it switched since the last look.

        At most every `switch_check_seconds` (one small file read): searches in flight
        finish on the generation they started with.
        """
        now = time.monotonic()
        if not self._follow or now < self._next_switch_check:
            return
        self._next_switch_check = now + self._switch_check_seconds
        followed = follow_switch(self.configured)
        current = self.settings
        if (followed.model, followed.pretrained, followed.space) == (
            current.model,
            current.pretrained,
            current.space,
        ):
            return
        log.info("search.model_switched old=%s new=%s", ModelId.of(current), ModelId.of(followed))
        self.holder = IndexHolder(IndexStore(followed.index_dir), device=followed.device)
        self.settings = followed

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
        self.follow_switch()
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
        if query.order is Order.NEWEST:
            # Rank the candidates by relevance, keep the relevant ones, order those by date.
            depth = min(self.settings.max_results, self.settings.fusion_depth)
            candidates = self._ranked(session, replace(query, offset=0, limit=depth, order=Order.RELEVANCE))
            return newest_page(session, candidates, query.offset, query.limit, query.relevance_cut)
        return self._ranked(session, query)

    def _ranked(self, session: Session, query: Query) -> SearchPage:
        if query.mode is Mode.KEYWORD:
            return _moments_of(session, keyword_page(session, self.settings, query))
        loaded = self.loaded_index()  # fail before loading the model when there is nothing to search
        resolved = resolve_query(session, self.settings, self.texts, query, loaded.manifest.dim)
        if query.mode is Mode.HYBRID:
            return _moments_of(session, hybrid_page(session, self.settings, loaded, query, resolved))
        return semantic_page(session, self.settings, loaded, query, resolved)  # folds moments itself

    def query_vector(self, session: Session, query: Query) -> np.ndarray:
        """The normalised combined vector of a query's parts (for searches other than this one's)."""
        return self.resolve(session, query).combined.vector

    def resolve(self, session: Session, query: Query) -> Resolved:
        """A query's combined vector and the images its results leave out (for other searches)."""
        self._check(query)
        dim = self.loaded_index().manifest.dim
        return resolve_query(session, self.settings, self.texts, query, dim)

    def embed_image_bytes(self, data: bytes, max_bytes: int | None = None) -> np.ndarray:
        """The CLS embedding of an uploaded image, decoded under the ingest limits."""
        return embed_image_bytes(self.settings, data, max_bytes)

    def _check(self, query: Query) -> None:
        check_parts(query.parts)
        if len(query.parts) > self.settings.max_query_parts:
            raise InvalidRequest(f"at most {self.settings.max_query_parts} parts per query")
        if not 1 <= query.limit <= self.settings.max_results:
            raise InvalidRequest(f"limit must be between 1 and {self.settings.max_results}")
        if not 0 <= query.offset <= self.settings.max_offset:
            raise InvalidRequest(f"offset must be between 0 and {self.settings.max_offset}")
        if query.min_score is not None and not -1.0 <= query.min_score <= 1.0:
            raise InvalidRequest("min_score is a cosine similarity, between -1 and 1")
        if not 0.0 <= query.relevance_cut <= 1.0:
            raise InvalidRequest("relevance_cut is a share of the score range, between 0 and 1")
        if query.templates is not None:
            check_templates(
                query.templates, self.settings.max_prompt_templates, self.settings.max_template_chars
            )
        # keyword and hybrid results go `fusion_depth` deep: a page past it is short or empty.
        if query.mode is Mode.KEYWORD:
            if not any(isinstance(p, TextPart) and p.weight > 0 for p in query.parts):
                raise InvalidRequest("keyword mode needs a text part with a positive weight")
            if any(not isinstance(p, TextPart) for p in query.parts):
                raise InvalidRequest("keyword mode matches words only: use semantic or hybrid for images")
            if query.min_score is not None:
                raise InvalidRequest("min_score is a cosine similarity: it applies to semantic and hybrid")

    # -- shapes other callers ask for -----------------------------------------------------

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

    def search_vector(
        self, session: Session, vector: np.ndarray, *, k: int = 10, min_score: float | None = None
    ) -> list[Hit]:
        """Top-k catalog hits for a query vector, best first, scores as cosine similarity."""
        query = Query(parts=(VectorPart(vector),), limit=k, min_score=min_score)
        return self.search(session, query).hits
