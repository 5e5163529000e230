"""`pixseek ingest PATH`: index a bucket, incrementally, here or on the workers."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click
from tqdm import tqdm

from pixseek.cli.common import emit, handle_errors, json_option
from pixseek.core.db import ensure_schema, session_scope
from pixseek.core.settings import Settings, get_settings
from pixseek.index.catalog import ImageStatus
from pixseek.index.jobs import JobProgress, JobStatus, job_progress, job_summary

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


@click.command("ingest")
@click.argument("path")
@click.option(
    "--wait",
    is_flag=True,
    help="With a broker: follow the job to its end and print the summary (default: return at once).",
)
@json_option
@handle_errors
def ingest_command(path: str, wait: bool, as_json: bool) -> None:
    """Index the images under PATH (a folder or s3://bucket/prefix); re-runs embed only changes.

    Without PIXSEEK_BROKER_URL the work runs in this process. With it, the bucket is listed
    here, its batches go to the workers (`pixseek worker`) and the job id is printed at once,
    or, with --wait, the job is followed to its end.
    """
    settings = get_settings()
    ensure_schema(settings)
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
    with session_scope(settings) as session:
        summary = job_summary(session, job_id)
    if as_json:
        emit(summary)
    else:
        _print_summary(summary)
    if summary["status"] == JobStatus.FAILED:
        sys.exit(1)
