"""Distributed ingest: send a job's work to the broker and follow it from SQL.

The flow, with every step keyed by ids and safe to repeat:

1. `start_job` (the CLI) or the `plan` task (the API) lists the bucket and commits the plan:
   the job's images are `pending` in SQL.
2. One `process_batch` task per `task_batch_size` images; any worker embeds them and
   commits rows, vectors and patch files.
3. Every batch, once done, counts the job's pending images; the one that sees none left
   sends `finalize` (two may both see none: finalize is idempotent, so that is harmless).
4. `finalize` is the single index writer: under the index lock it merges SQL into a new
   FAISS generation and marks the job done.

A batch killed with its worker is sent again once its lease lapses (ingest/recovery.py),
finds only its still-pending images, and finishes the step-3 check itself. No chord is
used: a chord counts completions in a result backend and a redelivered task can be
counted twice or, when it fails, never fire; counting pending rows in SQL is exact.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from pixseek.core.active_model import follow_switch
from pixseek.core.broker import celery_for
from pixseek.core.db import session_scope, utcnow
from pixseek.core.errors import BrokerUnavailable, ConfigError, PixseekError
from pixseek.core.faults import database_outage
from pixseek.core.redact import hide_passwords
from pixseek.core.settings import Settings
from pixseek.index.catalog.jobs import (
    FINISHED,
    Job,
    JobProgress,
    job_progress,
    record_failure,
    unfinished_ingest,
)
from pixseek.ingest.finalizing import finalize_job
from pixseek.ingest.pending import pending_count, pending_ids
from pixseek.ingest.planning import Plan, create_job, plan_job
from pixseek.media.sources import open_source

log = logging.getLogger(__name__)

PLAN_TASK = "pixseek.ingest.plan"
BATCH_TASK = "pixseek.ingest.process_batch"
FINALIZE_TASK = "pixseek.ingest.finalize"
# An unfinished ingest older than this is taken as abandoned: it no longer holds rescans back.
ABANDONED_AFTER = timedelta(hours=6)


def _require_broker(settings: Settings) -> None:
    if settings.embedded:
        raise ConfigError("distributed ingest needs PIXSEEK_BROKER_URL (for example redis://host:6379/0)")


def mark_dispatched(settings: Settings, job_id: str) -> None:
    """Note that the job's tasks were just sent: the reconciler leaves it alone for a while."""
    with session_scope(settings) as session:
        job = session.get(Job, job_id)
        if job is not None:
            job.dispatched_at = utcnow()


def send_batches(settings: Settings, job_id: str, bucket: str, image_ids: list[int]) -> int:
    """One `process_batch` task per `task_batch_size` ids; `finalize` at once when there are none."""
    _require_broker(settings)
    mark_dispatched(settings, job_id)
    app = celery_for(settings)
    plan = Plan(job_id=job_id, bucket=bucket, work=image_ids)
    sent = 0
    for batch in plan.batches(settings.task_batch_size):
        app.send_task(BATCH_TASK, args=(job_id, bucket, batch), queue=settings.queue)
        sent += 1
    if not sent:
        send_finalize(settings, job_id)
    log.info("ingest.dispatched job=%s images=%d batches=%d", job_id, len(image_ids), sent)
    return sent


def send_finalize(settings: Settings, job_id: str) -> None:
    if settings.embedded:
        # No broker: tasks run in this process (eagerly), so the index writer runs here too.
        finalize_job(settings, job_id)
        return
    celery_for(settings).send_task(FINALIZE_TASK, args=(job_id,), queue=settings.writer_queue)


def finalize_when_complete(settings: Settings, job_id: str) -> bool:
    """Send `finalize` when the job has no pending image left; True if it was sent."""
    if pending_count(settings, job_id):
        return False
    send_finalize(settings, job_id)
    return True


def _send_or_fail(settings: Settings, job_id: str, send: Callable[[], object]) -> None:
    """Send a job's tasks; if the broker cannot take them, the job is recorded failed."""
    try:
        send()
    except Exception as exc:
        # Its pending images stay pending: the next ingest of the bucket plans them again.
        record_failure(settings, job_id, hide_passwords(f"cannot send tasks to the broker: {exc}"))
        raise BrokerUnavailable(
            hide_passwords(f"cannot send tasks to the broker ({settings.broker_url}): {exc}")
        ) from exc


def start_job(settings: Settings, uri: str) -> Plan:
    """Plan a job here and hand its batches to the workers (what `pixseek ingest` does)."""
    _require_broker(settings)
    settings = follow_switch(settings)
    source = open_source(uri, settings)
    job_id = create_job(settings, source.bucket)
    try:
        plan = plan_job(settings, job_id, source)
    except BaseException as exc:
        record_failure(settings, job_id, f"{type(exc).__name__}: {exc}")
        raise
    # The plan is committed before any task is sent, so no worker sees a half-made job.
    _send_or_fail(settings, job_id, lambda: send_batches(settings, job_id, plan.bucket, plan.work))
    return plan


def rescan_bucket(settings: Settings, uri: str) -> str | None:
    """A scheduled rescan: start an ingest of `uri` unless one is still under way; its job id or None.

    Skipping keeps slow ingests from piling up behind a short interval; a redelivered rescan
    finds the job it started and skips too.
    """
    try:
        source = open_source(uri, settings)
    except PixseekError as exc:  # the bucket is gone or refused; the next rescan tries again
        log.warning("ingest.rescan_failed bucket=%s reason=%s", uri, exc.detail)
        return None
    with session_scope(settings) as session:
        running = unfinished_ingest(session, source.bucket, utcnow() - ABANDONED_AFTER)
    if running is not None:
        log.info("ingest.rescan_skipped bucket=%s running=%s", source.bucket, running)
        return None
    plan = start_job(settings, uri)
    log.info("ingest.rescan_started bucket=%s job=%s images=%d", source.bucket, plan.job_id, len(plan.work))
    return plan.job_id


def submit_job(settings: Settings, uri: str) -> str:
    """Record a job and let a worker plan it (what `POST /v1/jobs` does); returns its id."""
    _require_broker(settings)
    source = open_source(uri, settings)  # a bad bucket fails now, with a 4xx
    job_id = create_job(settings, source.bucket)
    mark_dispatched(settings, job_id)
    _send_or_fail(
        settings,
        job_id,
        lambda: celery_for(settings).send_task(PLAN_TASK, args=(job_id, uri), queue=settings.queue),
    )
    return job_id


def resume_job(settings: Settings, job_id: str) -> int:
    """Send the job's pending images again (after lost messages); returns the batches sent.

    Safe while the original batches still run: whichever run reaches an image first embeds
    it, and the other finds it no longer pending.
    """
    with session_scope(settings) as session:
        progress = job_progress(session, job_id)
    if progress.status in FINISHED:
        return 0
    return send_batches(settings, job_id, progress.bucket, pending_ids(settings, job_id))


def wait_for_job(
    settings: Settings,
    job_id: str,
    *,
    on_progress: Callable[[JobProgress], None] | None = None,
    poll_seconds: float = 0.5,
    timeout: float | None = None,
) -> JobProgress:
    """Poll the job's progress in SQL until it is done or failed (or `timeout` passes)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            with session_scope(settings) as session:
                progress = job_progress(session, job_id)
        except Exception as exc:
            if not database_outage(exc) or (deadline is not None and time.monotonic() > deadline):
                raise
            # The database restarts: the job goes on without it (tasks wait it out), so do we.
            log.warning("ingest.wait_database_unavailable job=%s: waiting for it to come back", job_id)
            time.sleep(max(poll_seconds, 2.0))
            continue
        if on_progress is not None:
            on_progress(progress)
        if progress.status in FINISHED:
            return progress
        if deadline is not None and time.monotonic() > deadline:
            return progress
        time.sleep(poll_seconds)
