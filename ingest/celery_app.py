"""The worker's Celery app: the shared app of `pixseek.core.broker`, plus a model per process.

`pixseek worker` (and `celery -A pixseek.ingest.celery_app`) starts from here, so the
hooks that give each worker process its own connections, model, task leases
(ingest/recovery.py) and metrics (ingest/worker_services.py) are registered first.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.concurrency.thread import TaskPool as ThreadTaskPool
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_ready,
    worker_shutting_down,
)

from pixseek.core.broker import celery_app
from pixseek.core.db import dispose_engines
from pixseek.core.redact import HidePasswords
from pixseek.core.settings import Settings, get_settings
from pixseek.ingest import recovery, worker_services

log = logging.getLogger(__name__)

__all__ = ["celery_app", "preload_model"]

task_prerun.connect(recovery.on_task_prerun, weak=False)
task_postrun.connect(recovery.on_task_postrun, weak=False)
task_prerun.connect(worker_services.on_task_prerun, weak=False)
task_postrun.connect(worker_services.on_task_postrun, weak=False)
worker_shutting_down.connect(worker_services.on_shutting_down, weak=False)


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
    # its own model: torch state does not survive a fork reliably. The solo pool sends this
    # signal too, in the worker itself.
    dispose_engines()
    worker_services.start_process_services(get_settings())
    preload_model(get_settings())


@after_setup_logger.connect
@after_setup_task_logger.connect
def _hide_passwords_in_logs(logger: logging.Logger, format: str, **_: Any) -> None:
    # Celery logs the broker URL at start and in connection errors: never its password.
    for handler in logger.handlers:
        handler.setFormatter(HidePasswords(format))


@worker_ready.connect
def _on_ready(sender: Any = None, **_: Any) -> None:
    # The threads pool sends no worker_process_init: its tasks run in the worker itself.
    if isinstance(getattr(sender, "pool", None), ThreadTaskPool):
        worker_services.start_process_services(get_settings())
