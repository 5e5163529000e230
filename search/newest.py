""" "Relevant, newest first": cut a relevance-ranked list where relevance drops, then order
what is left by capture time.

The cutoff is calibrated per query, because cosine similarities differ in scale between
models and between queries (a CLIP text query's best image may score 0.3 or 0.8). Among the
top candidates (up to `depth`), with `best` the highest similarity and `typical` their
median, an image is relevant when

    similarity >= best - cut * (best - typical)

so `cut` = 0 keeps only the best score, 0.5 (the default) the upper half of the range between
typical and best, and 1 everything above the median. Keyword matches need no cutoff: every
one holds the query's words. In hybrid mode an image is relevant by either rule (and an
exact file-name match always is). docs/search.md explains the rule with an example.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pixseek.index.catalog.images import Image
from pixseek.search.query import Hit, Mode, SearchPage

# Sort key for images without a capture time: after every image that has one.
_NEVER = datetime.min.replace(tzinfo=UTC)


def relevance_threshold(similarities: list[float], cut: float) -> float:
    """The lowest similarity still relevant among these candidates' (see the module docstring)."""
    best = max(similarities)
    typical = statistics.median(similarities)
    return best - cut * (best - typical)


def relevant(hits: list[Hit], mode: Mode, cut: float) -> list[Hit]:
    """The hits that pass the cutoff, in their relevance order."""
    if mode is Mode.KEYWORD:
        return list(hits)
    similarities = [h.similarity for h in hits if h.similarity is not None]
    if not similarities:
        return list(hits) if mode is Mode.HYBRID else []
    floor = relevance_threshold(similarities, cut)
    return [
        h
        for h in hits
        if (h.similarity is not None and h.similarity >= floor)
        or (mode is Mode.HYBRID and (h.exact_name or (h.similarity is None and h.keyword_rank is not None)))
    ]


def newest_page(session: Session, candidates: SearchPage, offset: int, limit: int, cut: float) -> SearchPage:
    """One page of the relevant candidates, newest capture first.

    Images without a capture time come after those with one, newest ingest first; ties
    keep their relevance order.
    """
    kept = relevant(candidates.hits, candidates.mode, cut)
    rows = session.execute(
        select(Image.id, Image.captured_at, Image.created_at).where(Image.id.in_([h.id for h in kept]))
    ).all()
    times = {int(i): (captured, created) for i, captured, created in rows}
    rank = {h.id: i for i, h in enumerate(kept)}

    def key(hit: Hit) -> tuple[bool, float, float, int]:
        captured, created = times.get(hit.id, (None, None))
        return (captured is None, -_ts(captured), -_ts(created), rank[hit.id])

    ordered = sorted(kept, key=key)
    return SearchPage(
        hits=ordered[offset : offset + limit],
        total=len(ordered),
        offset=offset,
        limit=limit,
        mode=candidates.mode,
    )


def _ts(value: datetime | None) -> float:
    return (value or _NEVER).timestamp()
