"""The Celery application. With no broker configured, tasks run eagerly in this process."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from pixseek.core.db import dispose_engines
from pixseek.core.settings import Settings, get_settings

log = logging.getLogger(__name__)


def make_celery(settings: Settings) -> Celery:
    app = Celery("pixseek", include=["pixseek.ingest.tasks"])
    if settings.broker_url:
        timeout = settings.broker_visibility_timeout
        app.conf.update(
            broker_url=settings.broker_url,
            result_backend=None,
            task_ignore_result=True,
            # A task is acknowledged only when done: a killed worker's batch is redelivered,
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


def preload_model(settings: Settings) -> None:
    """Load the encoder before the first task, so no batch pays for it (or outlives its lease)."""
    from pixseek.core.errors import ConfigError
    from pixseek.model.encoder import get_encoder

    try:
        get_encoder(settings)
    except ConfigError as exc:  # the tasks report it per job; the worker stays up to say so
        log.error("worker.model_load_failed reason=%s", exc.detail)


@worker_process_init.connect
def _after_fork(**_: Any) -> None:
    # A prefork child must not share the parent's pooled database connections, and loads
    # its own model: torch state does not survive a fork reliably.
    dispose_engines()
    preload_model(get_settings())


celery_app = make_celery(get_settings())
