"""The Celery app tasks are declared on and sent through, built from settings.

Both pipelines declare their tasks on `celery_app` (`pixseek.ingest.tasks`,
`pixseek.ingest.ocr_tasks`, `pixseek.search.duplicates.tasks`), so neither imports the
other; a worker loads them all through `TASK_MODULES`, named by string because this layer
imports nothing above it.
With no broker configured, tasks run eagerly in the calling process.
"""

from __future__ import annotations

from celery import Celery, Task

from pixseek.core.settings import Settings, get_settings

# Every module that declares tasks; a worker imports them at start.
TASK_MODULES = (
    "pixseek.ingest.tasks",
    "pixseek.ingest.ocr_tasks",
    "pixseek.search.duplicates.tasks",
)
# Declared in pixseek.ingest.tasks; named here because the beat schedule below sends it.
RESCAN_TASK = "pixseek.ingest.rescan"


def beat_schedule(settings: Settings) -> dict[str, dict[str, object]]:
    """`pixseek beat`'s schedule: one rescan of each of `PIXSEEK_RESCAN__BUCKETS` per interval."""
    interval = float(settings.rescan.interval_seconds)
    return {
        f"rescan {uri}": {
            "task": RESCAN_TASK,
            "schedule": interval,
            "args": (uri,),
            # A rescan that waited a whole interval for a worker is superseded by the next one.
            "options": {"queue": settings.queue, "expires": interval},
        }
        for uri in settings.rescan.buckets
    }


def make_celery(settings: Settings) -> Celery:
    app = Celery("pixseek", include=list(TASK_MODULES))
    if settings.broker_url:
        timeout = settings.broker_visibility_timeout
        app.conf.update(
            broker_url=settings.broker_url,
            result_backend=None,
            task_ignore_result=True,
            # A task is acknowledged only when done: a killed worker's task is redelivered,
            # which is safe because every task is idempotent.
            task_acks_late=True,
            task_reject_on_worker_lost=True,
            worker_prefetch_multiplier=1,
            task_default_queue=settings.queue,
            broker_connection_retry_on_startup=True,
            broker_transport_options={
                # Redis hands an unacknowledged task out again this long after its delivery
                # (a worker killed by SIGKILL never acknowledges). Every worker sweeps for
                # such tasks at start and then every `unacked_restore_interval` seconds.
                "visibility_timeout": timeout,
                "unacked_restore_interval": max(1, min(60, timeout // 10)),
                "unacked_restore_throttle": 1,
            },
            beat_schedule=beat_schedule(settings),
        )
    else:
        app.conf.update(task_always_eager=True, task_eager_propagates=True, task_ignore_result=True)
    return app


_SENDERS: dict[tuple[str | None, str, int], Celery] = {}


def celery_for(settings: Settings) -> Celery:
    """An app that sends tasks to the broker of `settings`, made once per broker and queue.

    The module's `celery_app` is configured from the environment at import; the API and
    tests may hold other settings, so senders are keyed by what decides where tasks go.
    """
    key = (settings.broker_url, settings.queue, settings.broker_visibility_timeout)
    app = _SENDERS.get(key)
    if app is None:
        app = _SENDERS.setdefault(key, make_celery(settings))
    return app


def retry_with_backoff(task: Task, settings: Settings, exc: Exception) -> None:
    """Retry the running task with backoff while retries are left; return when they are spent."""
    if task.request.retries < settings.task_max_retries:
        raise task.retry(exc=exc, countdown=min(60, 2**task.request.retries))


celery_app = make_celery(get_settings())
