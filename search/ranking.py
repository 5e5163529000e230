"""Semantic ranking: the top-n by cosine among the searchable images a query's filters allow.

Every ranking is ordered by score, then id (see `search.semantic`), so pages cut from it
always cut at the same place.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from pixseek.core.active_model import serving_model_keys
from pixseek.core.db import in_chunks
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image, images_by_ids
from pixseek.index.vectors.store import LoadedIndex
from pixseek.model.identity import ModelId
from pixseek.search import semantic
from pixseek.search.explain import explain_hits
from pixseek.search.facets import Facets, result_facets
from pixseek.search.filters import conditions
from pixseek.search.moments import with_moments
from pixseek.search.query import Hit, Query, SearchPage
from pixseek.search.resolve import Resolved

MOMENT_DEPTH = 4  # ranked hits per hit shown, for a video's segments to fold into one


def _passing(session: Session, ids: np.ndarray, conds: list[ColumnElement[bool]]) -> np.ndarray:
    """Which of `ids` meet `conds` now (the index can lag the catalog)."""
    found: set[int] = set()
    values = [int(i) for i in ids]
    for part in in_chunks(values):
        found.update(int(i) for i in session.scalars(select(Image.id).where(Image.id.in_(part), *conds)))
    return np.fromiter((i in found for i in values), dtype=bool, count=len(values))


def capped_count(session: Session, conds: list[ColumnElement[bool]], cap: int) -> tuple[int, bool]:
    """How many images meet `conds`, counted up to `cap`; and whether that count is exact.

    The count stops at cap + 1 rows, so it costs at most that many rows read whatever the
    catalog's size.
    """
    rows = select(literal(1)).select_from(Image).where(*conds).limit(cap + 1).subquery()
    found = int(session.scalar(select(func.count()).select_from(rows)) or 0)
    return min(found, cap), found <= cap


def semantic_ranking(
    session: Session, settings: Settings, loaded: LoadedIndex, query: Query, resolved: Resolved, n: int
) -> semantic.Ranked:
    """The top-n by cosine among searchable images that pass the filters.

    Unfiltered: the index, dropping rows that changed since it was built. Filtered: the
    index with an id selector, which skips the other ids; that is exact on a flat index.
    On IVF the index path keeps recall@10 >= 0.95 by probing more lists, all of them for
    filters that keep under a fifth of the collection (`index.factory.filtered_search_params`);
    a subset of at most `search_exact_max` images is scored exactly from its stored vectors
    (docs/benchmarks.md has the measurements).
    """
    model = ModelId.of(settings).key
    dim = loaded.manifest.dim
    conds = conditions(query.filters, serving_model_keys(settings))
    conds += resolved.exclusions()
    q = resolved.combined.vector
    if not query.filters.active:
        ranked = semantic.index_top(
            loaded,
            q,
            n,
            accept=lambda ids: _passing(session, ids, conds),
            min_score=query.min_score,
        )
        if query.min_score is not None:  # counting would mean scoring every image
            return replace(ranked, total=None)
        total, exact = capped_count(session, conds, settings.search_count_max)
        return replace(ranked, total=total, total_exact=exact)
    allowed = np.fromiter(session.scalars(select(Image.id).where(*conds)), dtype=np.int64)
    if allowed.size <= settings.search_exact_max and not semantic.is_exact(loaded.index):
        ids, vectors = semantic.stored_vectors(session, allowed, model, dim)
        return semantic.exact_top(vectors, ids, q, n, query.min_score)
    ranked = semantic.index_top(loaded, q, n, allowed=allowed, min_score=query.min_score)
    return replace(ranked, total=int(allowed.size) if query.min_score is None else None)


def semantic_page(
    session: Session, settings: Settings, loaded: LoadedIndex, query: Query, resolved: Resolved
) -> SearchPage:
    """The query's page of the semantic ranking; scores are cosine similarities."""
    # A video's segments fold into one hit (search/moments.py): rank deeper than the page, so
    # that folding still leaves a page full.
    wanted = query.offset + query.limit
    ranked = semantic_ranking(session, settings, loaded, query, resolved, wanted * MOMENT_DEPTH)
    ranked_ids = [int(i) for i in ranked.ids]
    scores = dict(zip(ranked_ids, (float(s) for s in ranked.scores), strict=True))
    rows = images_by_ids(session, ranked_ids)
    every = [
        Hit(id=i, bucket=rows[i].bucket, key=rows[i].key, score=scores[i], similarity=scores[i])
        for i in ranked_ids
        if i in rows
    ]
    hits = with_moments(session, every)[query.offset : wanted]
    if query.explain:
        explain_hits(session, settings, hits, resolved)
    facets = semantic_facets(session, settings, loaded, query, resolved) if query.facets else None
    total = ranked.total
    if total is not None and not ranked.total_exact:
        # "At least": never fewer than the results already shown (a page past the cap).
        total = max(total, query.offset + len(hits))
    exact = ranked.total_exact
    return SearchPage(hits, total, query.offset, query.limit, query.mode, facets, total_exact=exact)


def semantic_facets(
    session: Session, settings: Settings, loaded: LoadedIndex, query: Query, resolved: Resolved
) -> Facets:
    """Tag counts over the semantic result set: every filtered image, or those above `min_score`."""
    if query.min_score is None:
        conds = conditions(query.filters, serving_model_keys(settings)) + resolved.exclusions()
        return result_facets(session, settings, select(Image.id).where(*conds))
    ranked = semantic_ranking(session, settings, loaded, query, resolved, settings.fusion_depth)
    return result_facets(session, settings, [int(i) for i in ranked.ids])
