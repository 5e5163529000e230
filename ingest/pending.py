"""A job's pending images in SQL: the work still to do, read and given up in id chunks.

`pending` rows are the one record of what a job has left, in both modes: processing
reads only them, finalizing waits until none is left, and a redelivered batch finds
its images no longer pending once another run has stored them.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import func, select, update

from pixseek.core.db import in_chunks, session_scope, utcnow
from pixseek.core.metrics import record_failed
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image, ImageStatus

# Ids per `IN (...)` list and per transaction: short statements, and few rows locked at once.


def pending_keys(settings: Settings, job_id: str, ids: list[int]) -> Iterator[tuple[int, str]]:
    """(id, key) of the job's images among `ids` still pending, in id order, one chunk per session."""
    for part in in_chunks(ids):
        with session_scope(settings) as session:
            rows = session.execute(
                select(Image.id, Image.key)
                .where(
                    Image.id.in_(part),
                    Image.job_id == job_id,
                    Image.status == ImageStatus.PENDING,
                )
                .order_by(Image.id)
            ).all()
        yield from ((int(i), str(k)) for i, k in rows)


def pending_count(settings: Settings, job_id: str) -> int:
    """Images of the job still waiting to be read and embedded."""
    with session_scope(settings) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Image)
                .where(Image.job_id == job_id, Image.status == ImageStatus.PENDING)
            )
            or 0
        )


def pending_ids(settings: Settings, job_id: str) -> list[int]:
    """Ids of the job's images still pending, in id order (to dispatch them again)."""
    with session_scope(settings) as session:
        return [
            int(i)
            for i in session.scalars(
                select(Image.id)
                .where(Image.job_id == job_id, Image.status == ImageStatus.PENDING)
                .order_by(Image.id)
            )
        ]


def fail_pending(settings: Settings, job_id: str, image_ids: list[int], error: str) -> int:
    """Record the job's images among `image_ids` that are still pending as failed.

    Used when a batch keeps raising for a reason outside its files (a worker-side error):
    its images are reported instead of holding the job open forever, and the next ingest
    of the bucket plans them again.
    """
    failed = 0
    with session_scope(settings) as session:
        for part in in_chunks(image_ids):
            result = session.execute(
                update(Image)
                .where(
                    Image.id.in_(part),
                    Image.job_id == job_id,
                    Image.status == ImageStatus.PENDING,
                )
                .values(status=ImageStatus.FAILED, error=error, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            failed += int(getattr(result, "rowcount", 0) or 0)
    record_failed(failed, error)
    return failed
