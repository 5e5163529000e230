"""Celery tasks: thin wrappers that take ids and call the ingest steps the embedded mode runs too.

Each task is idempotent, because `acks_late` means a task whose worker died is run again:
`plan` only plans a job once, `process_batch` only touches images still pending for its
job, `finalize` re-derives the index from SQL and leaves a finished job alone, and
`backfill_signatures` only computes signatures that are still missing, `enrich_images` only
enriches images still waiting for it, and `rescan` starts
an ingest only while none of its bucket is under way; `reindex_batch` embeds only images
still missing a vector of the next model and `reindex_finish` switches once.
"""

from __future__ import annotations

import logging

from celery import Task
from celery.exceptions import Retry

from pixseek.core.active_model import follow_switch
from pixseek.core.broker import RESCAN_TASK, celery_app, retry_with_backoff
from pixseek.core.errors import PixseekError
from pixseek.core.faults import disk_full, one_line
from pixseek.core.settings import Settings, get_settings
from pixseek.index.catalog.jobs import record_failure
from pixseek.ingest import dispatch, enrich, recovery, reindex, signatures
from pixseek.ingest.finalizing import finalize_job
from pixseek.ingest.ocr import follow_ingest_with_ocr
from pixseek.ingest.pending import fail_pending
from pixseek.ingest.planning import job_is_planned, plan_job
from pixseek.ingest.processing import process_images
from pixseek.ingest.worker_services import HandBack, send_again, stop_when_asked
from pixseek.media.sources import open_source

log = logging.getLogger(__name__)


def _settings() -> Settings:
    """This worker's settings, following a model switch made since it started (pixseek reindex)."""
    return follow_switch(get_settings())


@celery_app.task(bind=True, name=dispatch.PLAN_TASK, acks_late=True)
def plan(self: Task, job_id: str, uri: str) -> int:
    """List a job's bucket, record the plan and send its batches; returns the batches sent."""
    settings = _settings()
    if job_is_planned(settings, job_id):
        # Redelivered after the plan was committed: send what is still pending again.
        return dispatch.resume_job(settings, job_id)
    try:
        source = open_source(uri, settings)
        planned = plan_job(settings, job_id, source)
    except PixseekError as exc:  # the bucket vanished or is refused: retrying will not help
        record_failure(settings, job_id, exc.detail)
        return 0
    except Exception as exc:
        retry_with_backoff(self, settings, exc)
        record_failure(settings, job_id, f"{type(exc).__name__}: {exc}")
        raise
    return dispatch.send_batches(settings, job_id, planned.bucket, planned.work)


@celery_app.task(name=RESCAN_TASK, acks_late=True)
def rescan(uri: str) -> str | None:
    """Ingest a bucket again on `pixseek beat`'s schedule; returns the job id (None: skipped)."""
    return dispatch.rescan_bucket(_settings(), uri)


@celery_app.task(bind=True, name=dispatch.BATCH_TASK, acks_late=True)
def process_batch(self: Task, job_id: str, bucket: str, image_ids: list[int]) -> int:
    """Read, decode and embed one batch of a job's images; the last batch sends finalize.

    A worker told to stop (SIGTERM) hands the rest of the batch back to the queue after the
    encoder batch it is on, so no other worker waits for its lease to lapse.
    """
    settings = _settings()
    try:
        deaths = recovery.deaths(settings, self.request.id)  # processes that died running it (its lease)
        if deaths >= settings.task_max_redeliveries:
            # Something in this batch kills the worker outright; stop the crash loop.
            recovery.give_up_batch(settings, job_id, image_ids, deaths)
            return 0
        try:
            done = process_images(settings, job_id, bucket, image_ids, stop_when_asked)
        except HandBack:
            # The lease goes first, so that the copy's start is not taken for a dead worker's.
            holder = recovery.holder_name(self.request.hostname)
            recovery.task_ended(settings, task_id=self.request.id, holder=holder)
            send_again(self, settings)
            log.warning(
                "ingest.batch_handed_back job=%s task=%s: the worker is stopping", job_id, self.request.id
            )
            return 0
        except Exception as exc:
            # Bad files never get here (they are recorded failed one by one); this is the
            # worker's own trouble: a database or bucket outage, a model that will not load.
            retry_with_backoff(self, settings, exc)
            reason = f"worker error: {one_line(exc)}"
            failed = fail_pending(settings, job_id, image_ids, reason)
            log.exception("ingest.batch_failed job=%s images=%d", job_id, failed)
            done = 0
        dispatch.finalize_when_complete(settings, job_id)
    except (Retry, HandBack):
        raise
    except Exception as exc:
        # The database went away between the steps above: retried like the batch itself.
        retry_with_backoff(self, settings, exc)
        raise
    return done


@celery_app.task(bind=True, name=dispatch.FINALIZE_TASK, acks_late=True)
def finalize(self: Task, job_id: str) -> int | None:
    """Publish the index for a job whose images are all processed; returns the generation."""
    settings = _settings()
    try:
        result = finalize_job(settings, job_id)
    except Exception as exc:
        if not disk_full(exc):  # space does not come back by waiting a few seconds
            retry_with_backoff(self, settings, exc)
        record_failure(settings, job_id, f"index writer: {one_line(exc)}")
        raise
    if result is None:
        return None
    try:
        enrich.follow_ingest_with_enrich(settings)  # sent to the enrich queue; never fails the ingest
    except Exception:
        log.exception("enrich.not_started job=%s", job_id)
    try:
        follow_ingest_with_ocr(settings)  # sent to the OCR queue; never fails the ingest
    except Exception:
        log.exception("ocr.not_started job=%s", job_id)
    return result.generation


@celery_app.task(bind=True, name=enrich.ENRICH_TASK, acks_late=True)
def enrich_images(self: Task, job_id: str) -> dict[str, int]:
    """Whole-picture patches, thumbnails and signatures of searchable images that lack them.

    Makes way for embedding: when an ingest has images pending, it publishes what it did and
    sends itself again a little later.
    """
    settings = _settings()
    try:
        summary = enrich.run_enrich_job(settings, job_id, yield_to_ingest=True)
    except PixseekError as exc:  # a model that will not load, a refused patch mode
        record_failure(settings, job_id, exc.detail)
        return {}
    except Exception as exc:
        retry_with_backoff(self, settings, exc)
        record_failure(settings, job_id, f"enrich: {type(exc).__name__}: {exc}")
        raise
    if summary is None:
        enrich.send_enrich(settings, job_id, countdown=enrich.YIELD_SECONDS)
        return {}
    return summary


@celery_app.task(bind=True, name=signatures.BACKFILL_TASK, acks_late=True)
def backfill_signatures(self: Task, job_id: str) -> int:
    """A detection job's first step: signatures for images that lack one; returns how many.

    Sent with the detection task as its link, which the worker sends once this returns.
    """
    settings = _settings()
    try:
        return signatures.backfill_signatures(settings, job_id=job_id)
    except Exception as exc:
        retry_with_backoff(self, settings, exc)
        record_failure(settings, job_id, f"signatures: {type(exc).__name__}: {exc}")
        raise


@celery_app.task(bind=True, name=reindex.REINDEX_BATCH_TASK, acks_late=True)
def reindex_batch(
    self: Task, job_id: str, model: str, pretrained: str, image_ids: list[int], switch: bool
) -> int:
    """Embed one batch of the catalog with the next model (`pixseek reindex` on the workers)."""
    settings = _settings()
    try:
        return reindex.run_batch(settings, job_id, model, pretrained, image_ids, switch)
    except Exception as exc:
        retry_with_backoff(self, settings, exc)
        record_failure(settings, job_id, f"reindex batch: {type(exc).__name__}: {exc}")
        raise


@celery_app.task(bind=True, name=reindex.REINDEX_FINISH_TASK, acks_late=True)
def reindex_finish(self: Task, job_id: str, model: str, pretrained: str, switch: bool) -> None:
    """Build the next model's indexes and switch to it, once every image has its vector."""
    settings = _settings()
    try:
        reindex.run_finish(settings, job_id, model, pretrained, switch)
    except Exception as exc:
        retry_with_backoff(self, settings, exc)
        record_failure(settings, job_id, f"reindex finish: {type(exc).__name__}: {exc}")
        raise
