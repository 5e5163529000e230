"""Celery tasks: thin wrappers that take ids and call the ingest service.

Each task is idempotent: `process_batch` only touches images still pending for its job,
and `finalize` re-derives the index from SQL, so a redelivered task changes nothing twice.
"""

from __future__ import annotations

from typing import Any

from ingest import service
from ingest.celery_app import celery_app
from ingest.jobs import job_summary
from pixseek.db import session_scope
from pixseek.settings import get_settings


@celery_app.task(name="pixseek.ingest.process_batch", acks_late=True)
def process_batch(job_id: str, bucket: str, image_ids: list[int]) -> int:
    """Read, decode and embed one batch of a job's images."""
    return service.process_images(get_settings(), job_id, bucket, image_ids)


@celery_app.task(name="pixseek.ingest.finalize", acks_late=True)
def finalize(_results: Any, job_id: str) -> dict[str, Any]:
    """Publish the index for a job whose batches are all processed."""
    settings = get_settings()
    service.finalize_job(settings, job_id)
    with session_scope(settings) as session:
        return job_summary(session, job_id)
