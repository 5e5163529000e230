"""`pixseek ingest PATH`: index a bucket, incrementally, here or on the workers."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click
from tqdm import tqdm

from pixseek.cli.common import emit, handle_errors, json_option
from pixseek.core.db import ensure_schema, session_scope
from pixseek.core.settings import Settings, get_settings
from pixseek.index.catalog.images import ImageStatus
from pixseek.index.catalog.jobs import JobProgress, JobStatus, job_progress, job_summary

if TYPE_CHECKING:
    from pixseek.ingest.planning import Plan

# The pipelines (pixseek.ingest.run, .dispatch) are imported by the functions that run them:
# they load torch and faiss, which `pixseek ingest --help` does not need.


def _print_summary(summary: dict[str, object]) -> None:
    failed = summary["failed"]
    skipped = summary["skipped"]
    assert isinstance(failed, list) and isinstance(skipped, list)
    click.echo(
        f"{summary['bucket']}: {summary['total']} files, {summary['indexed']} indexed, "
        f"{summary['unchanged']} unchanged, {summary['deleted']} deleted, "
        f"{len(failed)} failed, {len(skipped)} skipped  (job {summary['job_id']})"
    )
    for item in failed:
        click.echo(f"  failed  {item['key']}: {item['error']}")
    for item in skipped:
        click.echo(f"  skipped {item['key']}: {item['reason']}")


def _progress_bar() -> tqdm:
    return tqdm(
        total=0,
        unit="img",
        desc="ingest",
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
        dynamic_ncols=True,
    )


def _ingest_here(settings: Settings, path: str) -> str:
    from pixseek.ingest.run import run_ingest

    bar = _progress_bar()

    def on_plan(plan: Plan) -> None:
        bar.reset(total=len(plan.work))

    try:
        return run_ingest(settings, path, on_plan=on_plan, on_progress=bar.update)
    finally:
        bar.close()


def _follow(settings: Settings, plan: Plan) -> JobProgress:
    """Wait for a distributed job, drawing its progress from SQL."""
    from pixseek.ingest.dispatch import wait_for_job

    bar = _progress_bar()
    bar.reset(total=len(plan.work))

    def on_progress(progress: JobProgress) -> None:
        done = progress.planned - progress.counts.get(ImageStatus.PENDING, 0)
        bar.update(max(0, done - bar.n))

    try:
        return wait_for_job(settings, plan.job_id, on_progress=on_progress)
    finally:
        bar.close()


def _ingest_and_wait(settings: Settings, path: str) -> str:
    """One ingest, here or on the workers, returning once it is finished."""
    if settings.embedded:
        from pixseek.ingest.run import run_ingest

        return run_ingest(settings, path)
    from pixseek.ingest.dispatch import start_job, wait_for_job

    plan = start_job(settings, path)
    wait_for_job(settings, plan.job_id)
    return plan.job_id


def _watch(settings: Settings, path: str, as_json: bool) -> None:
    """Ingest PATH now and again whenever it changes, until SIGINT or SIGTERM."""
    from pixseek.ingest.watch import Watcher
    from pixseek.media.sources import open_source
    from pixseek.media.sources.local import LocalSource

    source = open_source(path, settings)  # a missing folder fails now, before watching
    local = isinstance(source, LocalSource)
    folder = Path(source.bucket) if local and settings.watch.events else None

    def on_run(job_id: str | None, reason: str) -> None:
        if job_id is None:
            click.echo(f"watch: the {reason} ingest failed (see the log); the next run retries", err=True)
            return
        with session_scope(settings) as session:
            summary = job_summary(session, job_id)
        changed = summary["indexed"] or summary["deleted"] or summary["failed"]
        if as_json:
            click.echo(json.dumps({"reason": reason, **summary}, default=str))
        elif changed or reason == "start":
            _print_summary(summary)

    watcher = Watcher(
        lambda: _ingest_and_wait(settings, path),
        folder=folder,
        debounce_seconds=settings.watch.debounce_seconds,
        rescan_seconds=settings.watch.rescan_seconds,
        ignore=[settings.data_dir],
        on_run=on_run,
    )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if watcher.stopping:  # the second signal interrupts the run; the next one recovers its job
            raise KeyboardInterrupt
        click.echo("watch: stopping after the current ingest (again to interrupt it)", err=True)
        watcher.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    how = f"events, and a rescan every {settings.watch.rescan_seconds:g} s" if folder else "rescans"
    click.echo(f"watch: keeping {source.bucket} in sync ({how}); Ctrl-C to stop", err=True)
    try:
        watcher.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _follow_publishes(settings: Settings) -> None:
    """Saved searches run again after each publish this command makes (as the API process does)."""
    from pixseek.api.saved_searches import refresh_all
    from pixseek.core.events import on_published
    from pixseek.search.service import SearchService

    search = SearchService(settings)
    on_published(settings, lambda published: refresh_all(published, search))


@click.command("ingest")
@click.argument("path")
@click.option(
    "--wait",
    is_flag=True,
    help="With a broker: follow the job to its end and print the summary (default: return at once).",
)
@click.option(
    "--watch",
    is_flag=True,
    help="Keep PATH in sync: ingest again after its files change and on every rescan, until Ctrl-C.",
)
@json_option
@handle_errors
def ingest_command(path: str, wait: bool, watch: bool, as_json: bool) -> None:
    """Index the images under PATH (a folder or s3://bucket/prefix); re-runs embed only changes.

    Without PIXSEEK_BROKER_URL the work runs in this process. With it, the bucket is listed
    here, its batches go to the workers (`pixseek worker`) and the job id is printed at once,
    or, with --wait, the job is followed to its end.

    With --watch the command stays: one ingest now, then one after each burst of file
    changes has settled (PIXSEEK_WATCH__DEBOUNCE_SECONDS) and one every
    PIXSEEK_WATCH__RESCAN_SECONDS; --json prints one JSON line per run.
    """
    settings = get_settings()
    ensure_schema(settings)
    if settings.embedded:
        _follow_publishes(settings)
    if watch:
        _watch(settings, path, as_json)
        return
    if settings.embedded:
        job_id = _ingest_here(settings, path)
    else:
        from pixseek.ingest.dispatch import start_job

        plan = start_job(settings, path)
        job_id = plan.job_id
        if not wait:
            with session_scope(settings) as session:
                progress = job_progress(session, job_id)
            if as_json:
                emit(progress.as_dict())
            else:
                click.echo(
                    f"job {job_id}: {len(plan.work)} of {progress.total} files to embed, sent to the "
                    f"workers; follow it with `pixseek jobs`"
                )
            return
        progress = _follow(settings, plan)
        if progress.status == JobStatus.FAILED:
            click.echo(f"error: job {job_id} failed: {progress.error}", err=True)
        elif progress.status == JobStatus.CANCELLED:
            click.echo(f"job {job_id} was cancelled; the next ingest takes up what it left", err=True)
    with session_scope(settings) as session:
        summary = job_summary(session, job_id)
    if as_json:
        emit(summary)
    else:
        _print_summary(summary)
    if summary["status"] in (JobStatus.FAILED, JobStatus.CANCELLED):
        sys.exit(1)
