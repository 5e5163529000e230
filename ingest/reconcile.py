"""Jobs that finish whatever the broker forgets: work SQL says is pending, that nothing carries.

Leases (ingest/recovery.py) bring back the tasks of a dead worker. They cannot bring back
messages the broker itself lost: a Redis without persistence that restarted, a failover to a
replica that had not caught up, a `maxmemory` eviction, a flushed database. SQL still knows
the work (the job's `pending` images, or a job with none left whose publish never ran), so a
reconciler in every worker looks, every `PIXSEEK_RECONCILE_SECONDS`, for ingest jobs (and the
enrich jobs that follow them) that are

1. queued or running, and untouched for that long (no dispatch, no image stored);
2. held by no task: no lease names the job (nothing running, nothing sent again);
3. carried by no message: neither waiting in a queue nor delivered and unacknowledged;

and sends their work again: the plan if it never ran, the pending images as batches, or the
index writer's `finalize` when nothing is pending; an enrich job's one task. One worker wins
each job (an update of its `dispatched_at` that only one can make), and sends inside that
transaction. Every task is
idempotent, so a copy sent while another was on its way (the instant between a worker taking a
message and starting it) only costs a lookup.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from pixseek.core.broker import celery_for, queued_first_args
from pixseek.core.db import session_scope, utcnow
from pixseek.core.settings import Settings
from pixseek.index.catalog.jobs import Job, JobKind, JobStatus, last_touched, unfinished_jobs
from pixseek.index.catalog.leases import leased_first_args
from pixseek.ingest import dispatch
from pixseek.ingest.enrich import send_enrich
from pixseek.ingest.pending import pending_ids

log = logging.getLogger(__name__)

UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)


@dataclass(frozen=True)
class Stranded:
    job_id: str
    bucket: str
    planned: bool
    kind: str = JobKind.INGEST


def idle_jobs(session: Session, cutoff: datetime) -> list[Stranded]:
    """Unfinished ingest and enrich jobs that showed no life (dispatch, plan, an image stored)
    since `cutoff`."""
    return [
        Stranded(job.id, job.bucket, job.started_at is not None, job.kind)
        for kind in (JobKind.INGEST, JobKind.ENRICH)
        for job in unfinished_jobs(session, kind)
        if last_touched(session, job) < cutoff
    ]


def claim_dispatch(session: Session, job_id: str, cutoff: datetime) -> bool:
    """Mark the job's work sent now, unless another worker did since `cutoff`; True if this one won."""
    result = session.execute(
        update(Job)
        .where(
            Job.id == job_id,
            Job.status.in_(UNFINISHED),
            or_(Job.dispatched_at.is_(None), Job.dispatched_at < cutoff),
        )
        .values(dispatched_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


def _send_again(settings: Settings, job: Stranded) -> str:
    """Send what the job still needs; returns what was sent (for the log)."""
    app = celery_for(settings)
    if job.kind == JobKind.ENRICH:
        send_enrich(settings, job.job_id)  # it resumes with the images still waiting for it
        return "enrich"
    if not job.planned:
        app.send_task(dispatch.PLAN_TASK, args=(job.job_id, job.bucket), queue=settings.queue)
        return "plan"
    ids = pending_ids(settings, job.job_id)
    if not ids:
        app.send_task(dispatch.FINALIZE_TASK, args=(job.job_id,), queue=settings.writer_queue)
        return "finalize"
    batches = 0
    for start in range(0, len(ids), settings.task_batch_size):
        batch = ids[start : start + settings.task_batch_size]
        app.send_task(dispatch.BATCH_TASK, args=(job.job_id, job.bucket, batch), queue=settings.queue)
        batches += 1
    return f"{batches} batches ({len(ids)} images)"


def reconcile(settings: Settings) -> int:
    """One pass: send again the work of every stranded ingest job; returns the jobs sent again.

    Raises when the database or the broker cannot be read: nothing is taken as lost then.
    """
    cutoff = utcnow() - timedelta(seconds=settings.reconcile_seconds)
    with session_scope(settings) as session:
        idle = idle_jobs(session, cutoff)
        if not idle:
            return 0
        held = leased_first_args(session)
    idle = [job for job in idle if job.job_id not in held]
    if not idle:
        return 0
    carried = queued_first_args(settings, [settings.queue, settings.writer_queue, settings.enrich_queue])
    resent = 0
    for job in idle:
        if job.job_id in carried:
            continue  # waiting its turn in a queue, or in a worker's hands
        with session_scope(settings) as session:
            if not claim_dispatch(session, job.job_id, cutoff):
                continue
            # Sent inside the claim's transaction: if the broker refuses, the claim is rolled back.
            what = _send_again(settings, job)
        resent += 1
        log.warning(
            "recovery.job_resent job=%s sent=%s (no task held it, no queue carried it)", job.job_id, what
        )
    return resent
