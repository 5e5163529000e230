"""What each worker process runs beside its tasks: lease checks, task metrics, a metrics server.

Started in every process that runs tasks (each prefork pool process, or the worker itself
with the solo and threads pools), so the metrics a process records are the ones it serves:
a prefork worker with `-c N` serves `PIXSEEK_WORKER_METRICS_PORT` and the next N-1 ports.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from pixseek.core.broker import celery_for
from pixseek.core.metrics import TASK_SECONDS, TASKS, serve_worker_metrics
from pixseek.core.settings import Settings
from pixseek.ingest.recovery import LeaseChecker

log = logging.getLogger(__name__)

# Set when this worker was asked to stop (SIGTERM: Celery's warm shutdown): running batches
# hand the rest of their images back instead of keeping the worker up until they finish.
STOPPING = threading.Event()

_started: dict[int, LeaseChecker] = {}  # pid -> this process's lease checker
_started_lock = threading.Lock()
_task_starts: dict[str, float] = {}


def pool_process_index() -> int:
    """0 for the worker itself, i for the i-th prefork pool process (billiard numbers them)."""
    from billiard.process import current_process

    return int(getattr(current_process(), "index", 0) or 0)


def start_process_services(settings: Settings) -> None:
    """Lease checks and (with PIXSEEK_WORKER_METRICS_PORT) the metrics server, once per process."""
    with _started_lock:
        if os.getpid() in _started:
            return
        _started[os.getpid()] = LeaseChecker(settings).start()
    if settings.worker_metrics_port is not None:
        serve_worker_metrics(settings.worker_metrics_port + pool_process_index())


def on_task_prerun(task_id: str, **_: Any) -> None:
    _task_starts[task_id] = time.monotonic()


def on_task_postrun(task_id: str, task: Any, state: str | None = None, **_: Any) -> None:
    started = _task_starts.pop(task_id, None)
    TASKS.labels(task.name, state or "UNKNOWN").inc()
    if started is not None:
        TASK_SECONDS.labels(task.name).observe(time.monotonic() - started)


class HandBack(Exception):
    """Raised between two encoder batches of a task whose worker is stopping."""


def on_shutting_down(**_: Any) -> None:
    """Celery `worker_shutting_down` (SIGTERM, SIGINT): running batches hand their rest back."""
    log.info("worker.stopping: running batches hand back what they have not started")
    STOPPING.set()


def stop_when_asked(_done: int) -> None:
    """A progress callback: raises HandBack once the worker is stopping (what is stored stays)."""
    if STOPPING.is_set():
        raise HandBack


def send_again(task: Any, settings: Settings) -> None:
    """Put the running task back at the end of its queue, under the same id and arguments.

    Its lease is dropped as the task returns, so the copy starts at once on another worker
    (a task sent again by the reconciler or the leases finds its images no longer pending).
    """
    request = task.request
    queue = (request.delivery_info or {}).get("routing_key") or settings.queue
    celery_for(settings).send_task(
        task.name,
        args=list(request.args or []),
        kwargs=dict(request.kwargs or {}),
        task_id=request.id,
        queue=queue,
    )
