"""Moments: search hits on video segments, named by their video and time range, one per video.

A video's segments are catalog items of their own (ingest/video.py), so the semantic
ranking scores them beside pictures. Here a ranked list is reshaped for people: each segment
hit names its video's file, its start and end; the best-scoring segment of a video stands
for it, with its next best moments listed under it, and the video's other hits are folded in.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from pixseek.index.catalog.images import VIDEO, images_by_ids
from pixseek.search.query import Hit, Moment

MAX_MOMENTS = 5  # moments listed under a video's hit, its own included


def with_moments(session: Session, hits: list[Hit], *, collapse: bool = True) -> list[Hit]:
    """`hits` (best first) with the video fields filled in; with `collapse`, one hit per video.

    A segment hit takes its video's key (the file to play), keeps its own id (its thumbnail,
    its patches), and gains `video_id`, `start`, `end`, `duration`. Collapsed, a video's
    later segment hits become `moments` of its first, best first (at most `MAX_MOMENTS`).
    """
    rows = images_by_ids(session, [h.id for h in hits])
    videos = {r.id: r for r in rows.values() if r.media == VIDEO and r.parent_id is None}
    parents = images_by_ids(session, sorted({r.parent_id for r in rows.values() if r.parent_id is not None}))
    videos.update(parents)
    out: list[Hit] = []
    first: dict[int, Hit] = {}
    for hit in hits:
        row = rows.get(hit.id)
        if row is None or row.media != VIDEO:
            out.append(hit)
            continue
        video = videos.get(row.parent_id if row.parent_id is not None else row.id)
        if video is None:
            out.append(hit)
            continue
        hit.media, hit.video_id, hit.key = VIDEO, video.id, video.key
        hit.start = row.start_s if row.parent_id is not None else 0.0
        hit.end = row.end_s if row.parent_id is not None else video.duration_s
        hit.duration = video.duration_s
        moment = Moment(id=hit.id, start=hit.start or 0.0, end=hit.end or 0.0, score=hit.score)
        lead = first.get(video.id)
        if collapse and lead is not None:
            assert lead.moments is not None
            if len(lead.moments) < MAX_MOMENTS:
                lead.moments.append(moment)
            continue
        hit.moments = [moment]
        first[video.id] = hit
        out.append(hit)
    return out
