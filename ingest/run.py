"""Ingest a bucket in this process, start to finish: the embedded default.

The same steps the Celery tasks run one by one in distributed mode (`ingest/dispatch.py`):
plan, process, finalize, each keyed by ids and safe to repeat.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from pixseek.core.active_model import follow_switch
from pixseek.core.faults import as_fault, one_line
from pixseek.core.settings import Settings
from pixseek.index.catalog.jobs import record_failure
from pixseek.ingest.enrich import follow_ingest_with_enrich
from pixseek.ingest.finalizing import finalize_job
from pixseek.ingest.ocr import follow_ingest_with_ocr
from pixseek.ingest.planning import Plan, create_job, plan_job
from pixseek.ingest.processing import ProgressFn, process_images
from pixseek.media.sources import open_source
from pixseek.model.encoder import get_encoder

log = logging.getLogger(__name__)


def _preload(settings: Settings) -> None:
    with contextlib.suppress(Exception):
        get_encoder(settings)


def run_ingest(
    settings: Settings,
    uri: str,
    *,
    job_id: str | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    on_progress: ProgressFn | None = None,
) -> str:
    """Ingest a bucket in this process, start to finish, with the served model; returns the job id.

    Once the ingest is published (searchable), an enrich job follows for what it left
    (`ingest/enrich.py`), then, with OCR on, an OCR job (`ingest/ocr.py`); each is a job of its
    own, whose failure is recorded on it, never on the ingest.
    """
    settings = follow_switch(settings)  # a `pixseek reindex` switch made since these were read
    # The model loads while the bucket is listed and planned (seconds each, one on each core):
    # the first batch then finds it ready. An error resurfaces where processing asks for it.
    threading.Thread(target=_preload, args=(settings,), name="pixseek-model-preload", daemon=True).start()
    source = open_source(uri, settings)
    job_id = job_id or create_job(settings, source.bucket)
    try:
        plan = plan_job(settings, job_id, source)
        if on_plan is not None:
            on_plan(plan)
        process_images(settings, job_id, source.bucket, plan.work, on_progress)
        finalize_job(settings, job_id)
    except BaseException as exc:
        try:
            record_failure(settings, job_id, one_line(exc))
        except Exception as unrecorded:  # the database itself is full or gone: the error still goes up
            log.warning("ingest.failure_not_recorded job=%s: %s", job_id, one_line(unrecorded))
        fault = as_fault(exc) if isinstance(exc, Exception) else None
        if fault is not None and fault is not exc:
            raise fault from exc  # a full disk, a lost database: one line for the user
        raise
    follow_ingest_with_enrich(settings)
    follow_ingest_with_ocr(settings)
    return job_id
