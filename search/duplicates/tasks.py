"""The detection task: a thin wrapper that takes a job id and runs the detection job.

Idempotent under `acks_late`: a job already done is not run again, and a run that died
committed nothing (pairs, groups and the job's outcome commit together).
"""

from __future__ import annotations

from typing import Any

from celery import Task

from pixseek.core.broker import celery_app, retry_with_backoff
from pixseek.core.settings import get_settings
from pixseek.index.catalog.jobs import record_failure
from pixseek.search.duplicates.jobs import DETECT_TASK, run_detection_job


@celery_app.task(bind=True, name=DETECT_TASK, acks_late=True)
def detect(self: Task, job_id: str, full: bool = False) -> dict[str, Any]:
    """Compare new images (all with `full`), rebuild the groups; returns the job's summary."""
    settings = get_settings()
    try:
        return run_detection_job(settings, job_id, full=full).as_dict()
    except Exception as exc:
        retry_with_backoff(self, settings, exc)
        record_failure(settings, job_id, f"{type(exc).__name__}: {exc}")
        raise
