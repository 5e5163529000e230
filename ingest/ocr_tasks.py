"""The OCR task: a thin wrapper that takes a job id and runs the OCR job (`ingest/ocr.py`).

Idempotent under `acks_late`: a job already done is not run again, and a run that died is
resumed from the images still lacking text (each batch commits on its own).
"""

from __future__ import annotations

from celery import Task

from pixseek.core.broker import celery_app, retry_with_backoff
from pixseek.core.errors import PixseekError
from pixseek.core.settings import get_settings
from pixseek.index.catalog.jobs import record_failure
from pixseek.ingest.ocr import OCR_TASK, run_ocr_job


@celery_app.task(bind=True, name=OCR_TASK, acks_late=True)
def recognise(self: Task, job_id: str) -> dict[str, int]:
    """Read the text of images that lack it; returns the job's summary."""
    settings = get_settings()
    try:
        return run_ocr_job(settings, job_id)
    except PixseekError as exc:  # no Tesseract, no language pack: retrying will not help
        record_failure(settings, job_id, exc.detail)
        return {}
    except Exception as exc:
        retry_with_backoff(self, settings, exc)
        record_failure(settings, job_id, f"ocr: {type(exc).__name__}: {exc}")
        raise
