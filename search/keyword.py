"""Keyword ranking: full-text matches on names, folders, captions and text in images, exact names first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from pixseek.core.settings import Settings
from pixseek.index.catalog.images import images_by_ids
from pixseek.index.catalog.keywords import KeywordQuery, keyword_count, keyword_ids, keyword_search
from pixseek.index.catalog.tokenize import same_name, words
from pixseek.search.facets import result_facets
from pixseek.search.filters import conditions
from pixseek.search.query import Hit, Part, Query, SearchPage, TextPart


@dataclass
class KeywordRanking:
    order: list[int]  # best first, exact name matches leading
    relevance: dict[int, float]
    exact: set[int]


def keyword_query(parts: Sequence[Part]) -> KeywordQuery:
    """The words of the text parts: positive ones to match, negative ones to leave out."""
    texts = [p for p in parts if isinstance(p, TextPart)]
    return KeywordQuery(
        groups=[w for p in texts if p.weight > 0 and (w := words(p.text))],
        exclude=[w for p in texts if p.weight < 0 and (w := words(p.text))],
    )


def keyword_ranking(
    session: Session, settings: Settings, query: Query, exclusions: list[ColumnElement[bool]]
) -> KeywordRanking:
    """Keyword matches, best first, with exact file-name matches moved to the top."""
    matches = keyword_search(
        session,
        keyword_query(query.parts),
        conditions(query.filters) + exclusions,
        settings.fusion_depth,
    )
    rows = images_by_ids(session, [i for i, _ in matches])
    texts = [p.text for p in query.parts if isinstance(p, TextPart) and p.weight > 0]
    exact = {i for i, _ in matches if i in rows and any(same_name(t, rows[i].key) for t in texts)}
    ranked = [i for i, _ in matches]
    return KeywordRanking(
        order=[i for i in ranked if i in exact] + [i for i in ranked if i not in exact],
        relevance=dict(matches),
        exact=exact,
    )


def keyword_page(session: Session, settings: Settings, query: Query) -> SearchPage:
    """The query's page of the keyword ranking; scores are full-text relevance."""
    ranking = keyword_ranking(session, settings, query, [])
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
    words, conds = keyword_query(query.parts), conditions(query.filters)
    total = keyword_count(session, words, conds)
    facets = result_facets(session, settings, keyword_ids(session, words, conds)) if query.facets else None
    return SearchPage(hits, total, query.offset, query.limit, query.mode, facets)
