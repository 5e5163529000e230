"""RAW files and their JPEG twins: the same shot saved twice by the camera, linked as duplicates.

A RAW and a JPEG (or HEIC) of the same folder and name with the same capture time are one
picture (search shows the RAW through its twin, `search/filters.py`). Detection links each
such pair at the `near` tier with a reason that says so, whether or not their hashes matched
(a camera's JPEG may carry a film look the RAW does not), so their group says what they are.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pixseek.core.db import utcnow
from pixseek.index.catalog.duplicates import DuplicatePair, Kind
from pixseek.index.catalog.exif import twin_pairs
from pixseek.index.catalog.images import Image

TWIN = "raw+jpeg"


def twin_reason(raw_key: str, other_key: str) -> str:
    same = "the same shot saved as RAW and JPEG (same name, same capture time)"
    return f"{TWIN}: {raw_key} and {other_key} are {same}"


def link_twins(session: Session) -> int:
    """Give every RAW twin pair its pair row and reason; returns how many pair rows were added."""
    pairs = twin_pairs(session)
    if not pairs:
        return 0
    ids = sorted({i for pair in pairs for i in pair})
    keys = dict(session.execute(select(Image.id, Image.key).where(Image.id.in_(ids))).tuples().all())
    conditions = [
        (DuplicatePair.image_a == min(r, o)) & (DuplicatePair.image_b == max(r, o)) for r, o in pairs
    ]
    existing = {
        (p.image_a, p.image_b): p for p in session.scalars(select(DuplicatePair).where(or_(*conditions)))
    }
    added = 0
    for raw, other in pairs:
        reason = twin_reason(keys[raw], keys[other])
        pair = existing.get((min(raw, other), max(raw, other)))
        if pair is None:
            added += 1
            session.add(
                DuplicatePair(
                    image_a=min(raw, other),
                    image_b=max(raw, other),
                    kind=Kind.NEAR,
                    score=1.0,
                    reason=reason,
                    found_at=utcnow(),
                )
            )
        elif not pair.reason.startswith(TWIN):
            pair.reason = f"{reason}; {pair.reason}"
    session.flush()
    return added
