"""Bringing a dead worker's tasks back within a minute: leases in SQL, checked by live workers.

Redis hands an unacknowledged task out again only after its visibility timeout (an hour by
default, which must outlast the longest task). So every task also holds a lease in SQL
(`pixseek.index.catalog.leases`) while it runs:

1. When a task starts, its process takes the task's lease; a thread of that process renews
   the leases it holds every third of `PIXSEEK_TASK_LEASE_SECONDS` (30 s by default).
2. When the task ends (done, failed or retrying), the lease is dropped.
3. Every live worker checks for leases not renewed for `PIXSEEK_TASK_LEASE_SECONDS`:
   their process died. One worker claims each (an update that only one can win) and sends
   the task again under the same id, with its arguments and links; the broker's copy stays
   unacknowledged with the dead process and comes back after the visibility timeout,
   finding nothing left to do. Every task is idempotent, so any copy may run.
4. A task whose processes died `PIXSEEK_TASK_MAX_REDELIVERIES` times (a file that kills
   the decoder, an out-of-memory kill) is given up instead: a batch's remaining images are
   recorded failed and the job is finalized; any other task records its job failed.

A task sent again goes to the back of its queue, as a redelivered one does.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from typing import Any

from pixseek.core.broker import celery_for
from pixseek.core.db import session_scope
from pixseek.core.errors import JobNotFound
from pixseek.core.faults import database_outage
from pixseek.core.metrics import LEASES_RECOVERED
from pixseek.core.settings import Settings, get_settings
from pixseek.index.catalog.jobs import record_failure
from pixseek.index.catalog.leases import (
    Lapsed,
    claim_lapsed,
    drop_lapsed,
    drop_unclaimed,
    lapsed_leases,
    lease_deaths,
    release_lease,
    renew_leases,
    take_lease,
)
from pixseek.ingest import dispatch
from pixseek.ingest.pending import fail_pending
from pixseek.ingest.reconcile import reconcile

log = logging.getLogger(__name__)


def holder_name(hostname: str | None) -> str:
    """Who holds a lease: the worker's name and the process id of the pool process."""
    return f"{hostname or socket.gethostname()}:{os.getpid()}"


def renew_interval(settings: Settings) -> float:
    return max(1.0, settings.task_lease_seconds / 3)


class Heartbeat:
    """Renews the leases this process holds, on a thread of its own, while its tasks run.

    The thread beats as long as the process lives, whatever the task is doing: a lease
    lapses when its process is gone (SIGKILL, out of memory, a lost machine), not when a
    task is merely slow.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, str] = {}  # task id -> holder
        self._settings: Settings | None = None
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def hold(self, settings: Settings, task_id: str, holder: str) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's thread did not come along
                self._held, self._thread, self._pid = {}, None, os.getpid()
            self._held[task_id] = holder
            self._settings = settings
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="pixseek-lease-renew", daemon=True)
                self._thread.start()

    def drop(self, task_id: str) -> None:
        with self._lock:
            self._held.pop(task_id, None)

    def held(self) -> dict[str, str]:
        with self._lock:
            return dict(self._held)

    def _run(self) -> None:
        while True:
            settings = self._settings
            assert settings is not None
            time.sleep(renew_interval(settings))
            held = self.held()
            if not held:
                continue
            try:
                self.renew(settings, held)
            except Exception as exc:  # a database blip: the next beat tries again, well within the lease
                _log_check_failure(f"recovery.renew_failed tasks={len(held)}", exc)

    def renew(self, settings: Settings, held: dict[str, str]) -> None:
        by_holder: dict[str, list[str]] = {}
        for task_id, holder in held.items():
            by_holder.setdefault(holder, []).append(task_id)
        with session_scope(settings) as session:
            lost = set().union(*(renew_leases(session, h, ids) for h, ids in by_holder.items()))
        for task_id in lost:
            # Presumed dead and sent again (a renewal missed the lease time): the other copy
            # runs too, which is safe because every task is idempotent.
            log.warning("recovery.lease_lost task=%s", task_id)
            self.drop(task_id)


HEARTBEAT = Heartbeat()


def message_of(request: Any) -> dict[str, Any]:
    """What a running task's message needs to be sent again: arguments and links."""
    return {
        "args": list(request.args or []),
        "kwargs": dict(request.kwargs or {}),
        "link": list(request.callbacks or []),
        "link_error": list(request.errbacks or []),
        "chain": list(request.chain or []),
    }


def task_started(
    settings: Settings, *, task_id: str, name: str, queue: str, message: dict[str, Any], holder: str
) -> int:
    """Take the task's lease and keep it renewed; returns the deaths counted on it."""
    with session_scope(settings) as session:
        deaths = take_lease(session, task_id=task_id, name=name, queue=queue, message=message, holder=holder)
    HEARTBEAT.hold(settings, task_id, holder)
    if deaths:
        log.info("recovery.task_taken_over task=%s name=%s deaths=%d", task_id, name, deaths)
    return deaths


def task_ended(settings: Settings, *, task_id: str, holder: str) -> None:
    HEARTBEAT.drop(task_id)
    with session_scope(settings) as session:
        release_lease(session, task_id, holder)


def on_task_prerun(task_id: str, task: Any, **_: Any) -> None:
    """Celery `task_prerun`: the task's lease, taken in the process that runs it."""
    settings = get_settings()
    if settings.embedded:
        return
    request = task.request
    queue = (request.delivery_info or {}).get("routing_key") or settings.queue
    try:
        task_started(
            settings,
            task_id=task_id,
            name=task.name,
            queue=queue,
            message=message_of(request),
            holder=holder_name(request.hostname),
        )
    except Exception as exc:  # the task still runs; only its recovery falls back to the broker's
        _log_check_failure(f"recovery.lease_not_taken task={task_id}", exc)


def on_task_postrun(task_id: str, task: Any, **_: Any) -> None:
    """Celery `task_postrun`: the lease is dropped whatever the outcome (a retry takes its own)."""
    settings = get_settings()
    if settings.embedded:
        return
    try:
        task_ended(settings, task_id=task_id, holder=holder_name(task.request.hostname))
    except Exception as exc:  # the lease lapses; the task sent again finds nothing left to do
        _log_check_failure(f"recovery.lease_not_released task={task_id}", exc)


def deaths(settings: Settings, task_id: str) -> int:
    """How many processes died running this task, as its lease counts them."""
    with session_scope(settings) as session:
        return lease_deaths(session, task_id)


def give_up_batch(settings: Settings, job_id: str, image_ids: list[int], deaths: int) -> int:
    """Record a batch's remaining images failed after `deaths` dead workers, and let the job finish."""
    reason = f"worker died {deaths} times on this file's batch"
    failed = fail_pending(settings, job_id, image_ids, reason)
    log.error("ingest.batch_given_up job=%s images=%d deaths=%d", job_id, failed, deaths)
    dispatch.finalize_when_complete(settings, job_id)
    return failed


def _give_up(settings: Settings, lapsed: Lapsed) -> None:
    args = lapsed.message.get("args") or []
    if lapsed.name == dispatch.BATCH_TASK:
        job_id, _bucket, image_ids = args
        give_up_batch(settings, str(job_id), [int(i) for i in image_ids], lapsed.deaths + 1)
        return
    # Every other pixseek task takes its job's id first.
    if not args:
        log.error("recovery.task_dropped task=%s name=%s: no job to fail", lapsed.task_id, lapsed.name)
        return
    try:
        record_failure(settings, str(args[0]), f"worker died {lapsed.deaths + 1} times running {lapsed.name}")
    except JobNotFound:
        log.error("recovery.task_dropped task=%s name=%s: its job is gone", lapsed.task_id, lapsed.name)


def _send_again(settings: Settings, lapsed: Lapsed) -> None:
    message = lapsed.message
    celery_for(settings).send_task(
        lapsed.name,
        args=message.get("args") or [],
        kwargs=message.get("kwargs") or {},
        task_id=lapsed.task_id,
        queue=lapsed.queue,
        link=message.get("link") or None,
        link_error=message.get("link_error") or None,
        chain=message.get("chain") or None,
    )


def check_leases(settings: Settings) -> dict[str, int]:
    """One check by a live worker: send again (or give up) every task whose lease lapsed.

    Returns how many were sent again and given up. Several workers may check at once:
    claiming a lease is an update only one of them wins.
    """
    seconds = settings.task_lease_seconds
    with session_scope(settings) as session:
        lapsed = lapsed_leases(session, seconds)
    resent = given_up = 0
    for lease in lapsed:
        if lease.deaths + 1 >= settings.task_max_redeliveries:
            # Idempotent, so two workers giving it up together do no harm; the lease is only
            # dropped once that is done, so a failure here leaves it for the next check.
            _give_up(settings, lease)
            with session_scope(settings) as session:
                dropped = drop_lapsed(session, lease, seconds)
            if dropped:
                given_up += 1
                LEASES_RECOVERED.labels("given_up").inc()
            continue
        with session_scope(settings) as session:
            if not claim_lapsed(session, lease, seconds):
                continue  # renewed after all, or claimed by another worker
            # Sent inside the claim's transaction: if the broker refuses it, the rollback
            # leaves the lease lapsed for the next check.
            _send_again(settings, lease)
        resent += 1
        LEASES_RECOVERED.labels("resent").inc()
        log.warning(
            "recovery.task_resent task=%s name=%s dead_holder=%s deaths=%d",
            lease.task_id,
            lease.name,
            lease.holder,
            lease.deaths + 1,
        )
    with session_scope(settings) as session:
        drop_unclaimed(session, settings.broker_visibility_timeout + seconds)
    return {"resent": resent, "given_up": given_up}


class LeaseChecker:
    """A worker's thread that runs `check_leases` every third of the lease time (with jitter)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pixseek-lease-check", daemon=True)

    def start(self) -> LeaseChecker:
        self._thread.start()
        log.info(
            "recovery.checking every=%.0fs lease=%ds",
            renew_interval(self.settings),
            self.settings.task_lease_seconds,
        )
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        # Stranded work waits `reconcile_seconds` untouched, then at most a third of it more.
        reconcile_every = self.settings.reconcile_seconds / 3
        every = min(renew_interval(self.settings), reconcile_every)
        reconciled_at = time.monotonic()
        while not self._stop.is_set():
            try:
                check_leases(self.settings)
            except Exception as exc:  # database or broker down: check again next time
                _log_check_failure("recovery.check_failed", exc)
            if time.monotonic() - reconciled_at >= reconcile_every:
                reconciled_at = time.monotonic()
                try:
                    reconcile(self.settings)
                except Exception as exc:
                    _log_check_failure("recovery.reconcile_failed", exc)
            # Jitter keeps many workers from checking in step.
            self._stop.wait(every * random.uniform(0.8, 1.2))


def _log_check_failure(event: str, exc: Exception) -> None:
    if database_outage(exc):  # expected while the database restarts: one line, not a traceback
        log.warning("%s: the database cannot be reached (%s)", event, type(exc).__name__)
    else:
        log.exception(event)
