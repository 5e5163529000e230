"""`pixseek duplicates`: find duplicate groups, check one file, resolve or dismiss a group, carry
the decisions out (`apply`, `undo`) and export them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pixseek.cli.common import emit, handle_errors, json_option
from pixseek.core.db import ensure_schema, session_scope
from pixseek.core.errors import InvalidRequest
from pixseek.core.settings import Settings, get_settings
from pixseek.index.catalog.jobs import failures_recorded
from pixseek.ingest.signatures import backfill_signatures
from pixseek.search.duplicates.decisions import ACTIONS

if TYPE_CHECKING:
    from pixseek.search.duplicates.apply import ApplyReport
    from pixseek.search.duplicates.detection import DetectSummary
    from pixseek.search.duplicates.service import DuplicateService
    from pixseek.search.duplicates.views import GroupView

# Detection and the duplicate service are imported by the commands that run them: they load
# faiss, which `pixseek duplicates --help` does not need.

KINDS = ("exact", "near", "contained", "similar")


def _print_group(group: GroupView) -> None:
    click.echo(f"group {group.id} [{group.kind}, {group.status}] keep {group.keep}")
    for image in group.images:
        mark = "*" if image.role == "keep" else "-" if image.role == "duplicate" else " "
        click.echo(f"  {mark} [{image.id}] {image.bucket}/{image.key}  {image.reason}")


def _service(settings: Settings) -> DuplicateService:
    from pixseek.search.duplicates.service import DuplicateService

    return DuplicateService(settings)


def _detect(settings: Settings, *, full: bool) -> DetectSummary:
    """A detection job run here, start to finish, and listed by `pixseek jobs` like any other."""
    from pixseek.search.duplicates.jobs import create_detection_job, run_detection_job

    job_id = create_detection_job(settings)
    with failures_recorded(settings, job_id):
        backfill_signatures(settings, job_id=job_id)
        return run_detection_job(settings, job_id, full=full)


@click.group("duplicates", invoke_without_command=True)
@click.option("--kind", type=click.Choice(KINDS), default=None, help="Only groups of this tier.")
@click.option(
    "--status",
    type=click.Choice(("open", "resolved", "dismissed")),
    default="open",
    show_default=True,
    help="Which groups to list.",
)
@click.option("--full", is_flag=True, help="Compare every image again, not only the new ones.")
@click.option("--no-detect", is_flag=True, help="List the stored groups without looking for new pairs.")
@click.option("--offset", type=int, default=0, show_default=True)
@click.option("--limit", type=int, default=1000, show_default=True)
@json_option
@click.pass_context
@handle_errors
def duplicates_command(
    ctx: click.Context,
    kind: str | None,
    status: str,
    full: bool,
    no_detect: bool,
    offset: int,
    limit: int,
    as_json: bool,
) -> None:
    """Find duplicates (new images against the collection) and list the groups."""
    if ctx.invoked_subcommand is not None:
        return
    settings = get_settings()
    ensure_schema(settings)
    service = _service(settings)
    summary = None if no_detect else _detect(settings, full=full)
    with session_scope(settings) as session:
        total, groups = service.list_groups(session, kind=kind, status=status, offset=offset, limit=limit)
    if as_json:
        document: dict[str, Any] = {"groups": [g.as_dict() for g in groups], "total": total}
        if summary is not None:
            document["detection"] = summary.as_dict()
        emit(document)
        return
    if summary is not None:
        click.echo(f"compared {summary.compared} of {summary.images} images; {summary.pairs_found} new pairs")
    for group in groups:
        _print_group(group)
    click.echo(f"{total} {status} group(s)")


@duplicates_command.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@handle_errors
def check_command(file: Path, as_json: bool) -> None:
    """Say whether the collection already holds a copy of FILE (nothing is written)."""
    settings = get_settings()
    ensure_schema(settings)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InvalidRequest(f"cannot read {file}: {exc.strerror or exc}") from exc
    with session_scope(settings) as session:
        result = _service(settings).check(session, data, max_bytes=settings.max_file_bytes)
    if as_json:
        emit(result.as_dict())
        return
    click.echo(f"{file}: {result.verdict}")
    for match in result.matches:
        click.echo(f"  {match.kind:7s} [{match.id}] {match.bucket}/{match.key}  {match.reason}")


@duplicates_command.command("resolve")
@click.argument("group_id", type=int)
@click.option(
    "--keep", "keep", type=int, multiple=True, help="Image id to keep (repeat; default: the keeper)."
)
@click.option("--action", type=click.Choice(ACTIONS), default="hide", show_default=True)
@json_option
@handle_errors
def resolve_command(group_id: int, keep: tuple[int, ...], action: str, as_json: bool) -> None:
    """Keep some images of GROUP_ID and mark the rest to remove or hide (files are never deleted)."""
    settings = get_settings()
    ensure_schema(settings)
    with session_scope(settings) as session:
        group = _service(settings).resolve(session, group_id, keep=list(keep) or None, action=action)
    if as_json:
        emit(group.as_dict())
    else:
        _print_group(group)


@duplicates_command.command("dismiss")
@click.argument("group_id", type=int)
@json_option
@handle_errors
def dismiss_command(group_id: int, as_json: bool) -> None:
    """Mark GROUP_ID as "not duplicates"; its pairs are never grouped again."""
    settings = get_settings()
    ensure_schema(settings)
    with session_scope(settings) as session:
        group = _service(settings).dismiss(session, group_id)
    if as_json:
        emit(group.as_dict())
    else:
        _print_group(group)


def _print_report(report: ApplyReport, verb: str) -> None:
    if report.dry_run:
        for move in report.moves:
            click.echo(f"  would move [{move['image_id']}] {move['from']} -> {move['to']}")
        click.echo(f"dry run: {report.planned} file(s) would move; add --execute to move them")
    else:
        note = " (an interrupted run, finished)" if report.resumed else ""
        click.echo(f"run {report.run}{note}: {report.moved} of {report.planned} file(s) {verb}")
    for skipped in report.skipped:
        click.echo(f"  left [{skipped['image_id']}]: {skipped['reason']}")


@duplicates_command.command("apply")
@click.option("--execute", is_flag=True, help="Move the files (without it: a dry run that only lists them).")
@click.option(
    "--to",
    "to",
    default=None,
    help="Quarantine folder or s3://bucket/prefix (default: PIXSEEK_DUPLICATES__QUARANTINE, "
    "else .pixseek-quarantine/ inside each bucket).",
)
@json_option
@handle_errors
def apply_command(execute: bool, to: str | None, as_json: bool) -> None:
    """Move the images of groups resolved with `--action remove` to a quarantine (never deleted).

    Writes a manifest; a run cut short is finished by the next `--execute`; `undo RUN` moves
    the files back.
    """
    from pixseek.search.duplicates.apply import apply

    settings = get_settings()
    ensure_schema(settings)
    report = apply(settings, dry_run=not execute, to=to)
    if as_json:
        emit(report.as_dict())
    else:
        _print_report(report, "moved")


@duplicates_command.command("undo")
@click.argument("run", required=False)
@json_option
@handle_errors
def undo_command(run: str | None, as_json: bool) -> None:
    """Move the files of apply run RUN back to their buckets; without RUN, list the runs."""
    from pixseek.search.duplicates.apply import list_runs, undo

    settings = get_settings()
    ensure_schema(settings)
    if run is None:
        runs = list_runs(settings)
        if as_json:
            emit({"runs": runs})
        for r in [] if as_json else runs:
            state = "undone" if r["undone"] else "finished" if r["finished"] else "interrupted"
            click.echo(f"{r['run']}  {r['moved']} of {r['planned']} moved  {state}")
        return
    report = undo(settings, run)
    if as_json:
        emit(report.as_dict())
    else:
        _print_report(report, "moved back")


@duplicates_command.command("export")
@click.option("--format", "fmt", type=click.Choice(("csv", "json")), default="csv", show_default=True)
@click.option(
    "--status", type=click.Choice(("open", "resolved", "dismissed")), default=None, help="Default: all."
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@handle_errors
def export_command(fmt: str, status: str | None, output: Path | None) -> None:
    """Write the groups and decisions (keeper, members, tier, reason, decision) as CSV or JSON."""
    from pixseek.search.duplicates.export import export

    settings = get_settings()
    ensure_schema(settings)
    with session_scope(settings) as session:
        text = export(session, fmt, status)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
