"""Hybrid ranking: the semantic and keyword lists fused by reciprocal rank, exact names first."""

from __future__ import annotations

from sqlalchemy.orm import Session

from pixseek.core.settings import Settings
from pixseek.index.catalog.images import images_by_ids
from pixseek.index.vectors.store import LoadedIndex
from pixseek.model.identity import ModelId
from pixseek.search import semantic
from pixseek.search.explain import explain_hits
from pixseek.search.facets import result_facets
from pixseek.search.fusion import reciprocal_rank_fusion
from pixseek.search.keyword import keyword_ranking
from pixseek.search.query import Hit, Query, SearchPage
from pixseek.search.ranking import semantic_ranking
from pixseek.search.resolve import Resolved


def hybrid_page(
    session: Session, settings: Settings, loaded: LoadedIndex, query: Query, resolved: Resolved
) -> SearchPage:
    """The query's page of both rankings fused; each list goes `fusion_depth` deep."""
    depth = settings.fusion_depth
    sem = semantic_ranking(session, settings, loaded, query, resolved, depth)
    keyword = keyword_ranking(session, settings, query, resolved.exclusions())
    fused = reciprocal_rank_fusion([[int(i) for i in sem.ids], keyword.order], settings.fusion_k)
    exact = keyword.exact
    fused.sort(key=lambda f: (f.id not in exact, -f.score, f.id))
    page = fused[query.offset : query.offset + query.limit]
    rows = images_by_ids(session, [f.id for f in page])
    vectors = semantic.vectors_by_id(session, [f.id for f in page], ModelId.of(settings).key)
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
        explain_hits(session, settings, hits, resolved, vectors)
    facets = result_facets(session, settings, [f.id for f in fused]) if query.facets else None
    return SearchPage(hits, len(fused), query.offset, query.limit, query.mode, facets)
