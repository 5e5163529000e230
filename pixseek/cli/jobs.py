"""`pixseek jobs`: the recent jobs (ingests and duplicate detections) and their progress, from SQL."""

from __future__ import annotations

import click

from pixseek.cli.common import emit, handle_errors, json_option
from pixseek.core.db import ensure_schema, session_scope
from pixseek.core.settings import get_settings
from pixseek.index.catalog.jobs import JobKind, cancel_job, job_progress, list_jobs


@click.group("jobs", invoke_without_command=True)
@click.option("-n", "--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option(
    "--resume",
    "resume_id",
    default=None,
    metavar="JOB_ID",
    help="Send a running job's pending images to the workers again (after lost messages).",
)
@json_option
@click.pass_context
@handle_errors
def jobs_command(ctx: click.Context, limit: int, resume_id: str | None, as_json: bool) -> None:
    """The most recent jobs, newest first: status and counts.

    `pixseek jobs cancel JOB_ID` cancels a queued or running job.
    """
    if ctx.invoked_subcommand is not None:
        return
    settings = get_settings()
    ensure_schema(settings)
    if resume_id is not None:
        from pixseek.ingest.dispatch import resume_job  # the broker client, only to resume

        sent = resume_job(settings, resume_id)
        click.echo(f"job {resume_id}: {sent} batches sent again", err=True)
    with session_scope(settings) as session:
        rows = [job_progress(session, job.id).as_dict() for job in list_jobs(session, limit)]
    if as_json:
        emit({"jobs": rows})
        return
    if not rows:
        click.echo("no jobs yet")
    for row in rows:
        if row["kind"] == JobKind.DUPLICATES:
            found = row["detection"]
            what = (
                f"compared {found['compared']} of {found['images']} images, {found['pairs_found']} new pairs"
                if found
                else "not finished"
            )
            click.echo(f"{row['job_id']}  {row['status']:<8} duplicates: {what}  {row['created_at']}")
        elif row["kind"] == JobKind.OCR:
            read = row["ocr"] or {}
            what = (
                f"read {read.get('images', 0)} images, {read.get('words', 0)} words in "
                f"{read.get('with_text', 0)}, {read.get('unread', 0)} unread"
            )
            click.echo(f"{row['job_id']}  {row['status']:<8} ocr: {what}  {row['created_at']}")
        elif row["kind"] == JobKind.ENRICH:
            made = row["enrich"] or {}
            what = (
                f"{row['done']}/{row['total']} images enriched, {made.get('patches', 0)} given whole-picture "
                f"patches, {made.get('unread', 0)} unread"
            )
            click.echo(f"{row['job_id']}  {row['status']:<8} enrich: {what}  {row['created_at']}")
        else:
            click.echo(
                f"{row['job_id']}  {row['status']:<8} {row['done']}/{row['total']} done, "
                f"{row['indexed']} indexed, {row['failed']} failed, {row['skipped']} skipped, "
                f"{row['deleted']} deleted  {row['created_at']}  {row['bucket']}"
            )
        if row["error"]:
            click.echo(f"    error: {row['error']}")


@jobs_command.command("cancel")
@click.argument("job_id")
@json_option
@handle_errors
def cancel_command(job_id: str, as_json: bool) -> None:
    """Cancel a queued or running job: its images not yet read are left for the next ingest.

    What the job already embedded stays, and is published by the next ingest of the bucket.
    """
    settings = get_settings()
    ensure_schema(settings)
    with session_scope(settings) as session:
        cancel_job(session, job_id)
    with session_scope(settings) as session:
        progress = job_progress(session, job_id).as_dict()
    if as_json:
        emit(progress)
    else:
        click.echo(
            f"job {job_id} cancelled: {progress['indexed']} images embedded before it stopped, "
            f"{progress['cancelled']} left for the next ingest"
        )
