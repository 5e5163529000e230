"""The Celery app tasks are declared on and sent through, built from settings.

Both pipelines declare their tasks on `celery_app` (`pixseek.ingest.tasks`,
`pixseek.ingest.ocr_tasks`, `pixseek.search.duplicates.tasks`), so neither imports the
other; a worker loads them all through `TASK_MODULES`, named by string because this layer
imports nothing above it.
With no broker configured, tasks run eagerly in the calling process.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from celery import Celery, Task

from pixseek.core.faults import database_outage
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


# The longest wait between two retries of a task whose database is unreachable.
OUTAGE_BACKOFF_CAP_SECONDS = 5


def outage_retries(settings: Settings) -> int:
    """Retries that cover `database_retry_seconds` with backoff 1, 2, 4, 5, 5, ... seconds."""
    waited = retries = 0
    while waited < settings.database_retry_seconds:
        waited += min(OUTAGE_BACKOFF_CAP_SECONDS, 2**retries)
        retries += 1
    return retries


def retry_with_backoff(task: Task, settings: Settings, exc: Exception) -> None:
    """Retry the running task with backoff while retries are left; return when they are spent.

    A database that cannot be reached (a restart, a failover) is waited out for
    `database_retry_seconds`, retrying every few seconds, so that the task resumes soon
    after it is back; any other error gets `task_max_retries` retries, backing off to a minute.
    """
    retries = task.request.retries
    # Celery's own cap (`max_retries`; None would mean the task's default of 3) is lifted:
    # the limits are decided here.
    if database_outage(exc):
        if retries < settings.task_max_retries + outage_retries(settings):
            countdown = min(OUTAGE_BACKOFF_CAP_SECONDS, 2**retries)
            raise task.retry(exc=exc, countdown=countdown, max_retries=retries + 1)
        return
    if retries < settings.task_max_retries:
        raise task.retry(exc=exc, countdown=min(60, 2**retries), max_retries=retries + 1)


celery_app = make_celery(get_settings())


def _first_arg(message: dict[str, Any]) -> str | None:
    """The first argument of a task message (protocol 2: a base64 JSON body `[args, kwargs, embed]`)."""
    try:
        body: str | bytes = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        decoded = json.loads(body)
        args = decoded[0] if isinstance(decoded, list) else decoded.get("args")
        return str(args[0]) if args else None
    except (TypeError, ValueError, KeyError, IndexError, AttributeError):
        return None


# Messages read per round trip when a queue is scanned.
SCAN_PAGE = 1000


def queued_first_args(settings: Settings, queues: list[str]) -> set[str]:
    """The first argument (a job id, for pixseek's job tasks) of every task the broker still holds:
    waiting in `queues`, or delivered to a worker and not yet acknowledged.

    Redis only (the one broker pixseek supports): kombu keeps a queue as a list and the
    unacknowledged messages of every queue in the `unacked` hash. Raises when Redis cannot
    be reached, so that nothing is taken as lost while the broker is down.
    """
    import redis

    assert settings.broker_url is not None
    client = redis.Redis.from_url(settings.broker_url, socket_connect_timeout=5, socket_timeout=30)
    found: set[str] = set()
    try:
        for queue in dict.fromkeys(queues):
            start = 0
            while raw := client.lrange(queue, start, start + SCAN_PAGE - 1):
                found.update(a for a in (_first_arg(json.loads(m)) for m in raw) if a is not None)
                start += SCAN_PAGE
        wanted = set(queues)
        for _tag, raw in client.hscan_iter("unacked", count=SCAN_PAGE):
            message, _exchange, routing_key = json.loads(raw)
            if routing_key in wanted and (arg := _first_arg(message)) is not None:
                found.add(arg)
    finally:
        client.close()
    return found
