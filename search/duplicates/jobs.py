"""Detection as a job, followed like an ingest through `GET /v1/jobs/{id}` and `pixseek jobs`.

A detection job has two steps, each safe to run again:

1. ingest's `backfill_signatures` gives every searchable image a signature, reading the
   files that lack one from their buckets and committing in chunks;
2. `run_detection_job` compares, stores the pairs, rebuilds the groups and records the
   summary on the job, all in one transaction: a run that dies changes nothing, and a job
   already done is not run again.

The API runs both on its background runner (embedded) or sends them to the workers,
step 2 as the link of step 1; the CLI runs both in-process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from pixseek.core.active_model import follow_switch
from pixseek.core.db import ensure_schema, session_scope
from pixseek.core.locks import file_lock
from pixseek.core.settings import Settings
from pixseek.index.catalog.jobs import JobKind, add_job, claim_job, finish_job, get_job
from pixseek.search.duplicates.detection import DetectSummary, detect

log = logging.getLogger(__name__)

DETECT_TASK = "pixseek.duplicates.detect"


def create_detection_job(settings: Settings) -> str:
    """Record a queued detection job; returns its id."""
    ensure_schema(settings)
    with session_scope(settings) as session:
        return add_job(session, JobKind.DUPLICATES)


@contextmanager
def detection_lock(settings: Settings) -> Iterator[None]:
    """One detection at a time per data dir: two would rebuild the same open groups at once.

    Detection tasks go to the index writer's queue, whose workers share the data dir.
    """
    with file_lock(settings.data_dir / ".duplicates.lock"):
        yield


def run_detection_job(settings: Settings, job_id: str, *, full: bool = False) -> DetectSummary:
    """Detect and record the outcome on the job; a job already done returns its recorded summary.

    Raises whatever detection raises, leaving the job for the caller to record failed.
    """
    settings = follow_switch(settings)  # the served model's vectors, after any `pixseek reindex`
    with detection_lock(settings):
        with session_scope(settings) as session:
            # Committed at once, so the job shows `running` while the comparison runs.
            if claim_job(session, job_id) is None:
                log.info("duplicates.job_already_done job=%s", job_id)
                return DetectSummary(**(get_job(session, job_id).summary or {}))
        with session_scope(settings) as session:
            summary = detect(session, settings, full=full)
            job = get_job(session, job_id)
            summary.backfilled = int((job.summary or {}).get("backfilled", 0))
            finish_job(job, summary.as_dict())
    log.info("duplicates.job_done job=%s", job_id)
    return summary
