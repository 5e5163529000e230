"""`pixseek worker`: a Celery worker that embeds batches and writes the index; `pixseek beat`: its clock."""

from __future__ import annotations

import click

from pixseek.cli.common import handle_errors
from pixseek.core.db import ensure_schema
from pixseek.core.errors import ConfigError
from pixseek.core.settings import get_settings


@click.command("worker")
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Worker processes; each loads its own model, and torch already uses every core for one.",
)
@click.option(
    "-Q",
    "--queues",
    default=None,
    help="Comma-separated queues to consume (default: PIXSEEK_QUEUE, PIXSEEK_INDEX_QUEUE, and "
    "PIXSEEK_OCR__QUEUE when OCR is on).",
)
@click.option(
    "--pool",
    type=click.Choice(["prefork", "solo", "threads"]),
    default="prefork",
    show_default=True,
    help="solo runs tasks in the main process (one at a time, least memory).",
)
@click.option("--loglevel", default="INFO", show_default=True)
@click.option("-n", "--hostname", default=None, help="Worker name (default: celery@<host>).")
@handle_errors
def worker_command(
    concurrency: int, queues: str | None, pool: str, loglevel: str, hostname: str | None
) -> None:
    """Run a worker for PIXSEEK_BROKER_URL; start any number on any machine sharing the data dir."""
    settings = get_settings()
    if settings.embedded:
        raise ConfigError("`pixseek worker` needs PIXSEEK_BROKER_URL (for example redis://host:6379/0)")
    ensure_schema(settings)
    from pixseek.ingest.celery_app import celery_app, preload_model

    if pool != "prefork":
        preload_model(settings)  # prefork children load theirs after the fork

    default = [settings.queue, settings.writer_queue, settings.enrich_queue]
    default += [settings.ocr.queue] if settings.ocr.enabled else []
    names = queues or ",".join(dict.fromkeys(default))
    argv = [
        "worker",
        f"--concurrency={concurrency}",
        f"--queues={names}",
        f"--pool={pool}",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    celery_app.worker_main(argv)


@click.command("beat")
@click.option("--loglevel", default="INFO", show_default=True)
@handle_errors
def beat_command(loglevel: str) -> None:
    """Send the scheduled rescans of PIXSEEK_RESCAN__BUCKETS to the workers; run exactly one."""
    settings = get_settings()
    if settings.embedded:
        raise ConfigError("`pixseek beat` needs PIXSEEK_BROKER_URL (for example redis://host:6379/0)")
    if not settings.rescan.buckets:
        raise ConfigError(
            "`pixseek beat` has nothing to schedule: set PIXSEEK_RESCAN__BUCKETS "
            "(e.g. '[\"s3://images/\"]') and PIXSEEK_RESCAN__INTERVAL_SECONDS"
        )
    # The shared app: its schedule is built from the same settings (pixseek/core/broker.py),
    # and the beat sends tasks by name, so it loads no model and no pipeline.
    from pixseek.core.broker import celery_app

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    celery_app.start(["beat", f"--loglevel={loglevel}", f"--schedule={settings.data_dir / 'beat-schedule'}"])
