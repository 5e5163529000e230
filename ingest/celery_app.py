"""The Celery application. With no broker configured, tasks run eagerly in this process."""

from __future__ import annotations

from celery import Celery

from pixseek.settings import Settings, get_settings


def make_celery(settings: Settings) -> Celery:
    app = Celery("pixseek", include=["ingest.tasks"])
    if settings.broker_url:
        app.conf.update(
            broker_url=settings.broker_url,
            result_backend=None,
            task_ignore_result=True,
            # A task is acknowledged only when done: a killed worker's batch is redelivered,
            # which is safe because every task is idempotent.
            task_acks_late=True,
            task_reject_on_worker_lost=True,
            worker_prefetch_multiplier=1,
            task_default_queue="pixseek",
            broker_connection_retry_on_startup=True,
        )
    else:
        app.conf.update(task_always_eager=True, task_eager_propagates=True, task_ignore_result=True)
    return app


celery_app = make_celery(get_settings())
