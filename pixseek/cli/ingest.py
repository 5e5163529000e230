"""`pixseek ingest PATH`: index a bucket, incrementally."""

from __future__ import annotations

import sys

import click
from tqdm import tqdm

from ingest.jobs import job_summary
from ingest.service import Plan, run_ingest
from pixseek.cli.common import emit, handle_errors, json_option
from pixseek.db import ensure_schema, session_scope
from pixseek.settings import get_settings


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


@click.command("ingest")
@click.argument("path")
@json_option
@handle_errors
def ingest_command(path: str, as_json: bool) -> None:
    """Index the images under PATH (a folder); re-runs embed only new and changed files."""
    settings = get_settings()
    ensure_schema(settings)
    bar = tqdm(
        total=0,
        unit="img",
        desc="ingest",
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
        dynamic_ncols=True,
    )

    def on_plan(plan: Plan) -> None:
        bar.reset(total=len(plan.work))

    try:
        job_id = run_ingest(settings, path, on_plan=on_plan, on_progress=bar.update)
    finally:
        bar.close()
    with session_scope(settings) as session:
        summary = job_summary(session, job_id)
    if as_json:
        emit(summary)
    else:
        _print_summary(summary)


COMMANDS = [ingest_command]
