"""`pixseek backup DEST` and `pixseek restore SRC`: a consistent copy of a data dir and its catalog."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from pixseek.cli.common import emit, handle_errors, json_option
from pixseek.core.db import ensure_schema
from pixseek.core.settings import get_settings

if TYPE_CHECKING:
    from pixseek.index.backup import BackupReport

# pixseek.index.backup reads index generations (faiss): imported when the command runs, so
# that `pixseek backup --help` stays light.


def _print(report: BackupReport, verb: str) -> None:
    click.echo(f"{verb} {report.path}: index generation {report.generation}, {report.backend} catalog")
    for part in report.parts:
        click.echo(f"  {part.name}: {part.files} files, {part.bytes / 1e6:.1f} MB, {part.seconds:.1f} s")


@click.command("backup")
@click.argument("dest", type=click.Path(path_type=Path))
@click.option("--thumbnails", is_flag=True, help="Copy the thumbnails too (they are remade on demand).")
@json_option
@handle_errors
def backup_command(dest: Path, thumbnails: bool, as_json: bool) -> None:
    """Back up the catalog, the served index generation and the patch store into DEST.

    Search and ingest go on meanwhile; only the next index publication waits for the
    catalog and the index to be copied. PostgreSQL catalogs need `pg_dump`.
    """
    from pixseek.index.backup import backup

    settings = get_settings()
    report = backup(settings, dest, thumbnails=thumbnails)
    if as_json:
        emit(report.as_dict())
    else:
        _print(report, "backed up to")


@click.command("restore")
@click.argument("source", type=click.Path(path_type=Path, exists=True, file_okay=False))
@json_option
@handle_errors
def restore_command(source: Path, as_json: bool) -> None:
    """Restore a backup made by `pixseek backup` into an empty data dir and catalog.

    PIXSEEK_DATA_DIR (and PIXSEEK_DATABASE_URL, for PostgreSQL: an empty database) say where.
    """
    from pixseek.index.backup import restore

    settings = get_settings()
    report = restore(settings, source)
    ensure_schema(settings)  # a backup from an older release is brought up to date
    if as_json:
        emit(report.as_dict())
    else:
        _print(report, "restored from")
