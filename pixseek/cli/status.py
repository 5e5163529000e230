"""`pixseek status`: what is indexed, with which model, where."""

from __future__ import annotations

import click

from pixseek.cli.common import emit, handle_errors, json_option
from pixseek.core.db import ensure_schema, migrate, session_scope
from pixseek.core.settings import get_settings
from pixseek.index.status import catalog_status


@click.command("status")
@json_option
@handle_errors
def status_command(as_json: bool) -> None:
    """Counts per status, the model, the index and the data directory."""
    settings = get_settings()
    ensure_schema(settings)
    with session_scope(settings) as session:
        status = catalog_status(settings, session)
    if as_json:
        emit(status)
        return
    click.echo(f"data dir:  {status['data_dir']}")
    click.echo(f"database:  {status['database']}")
    weights = " (RANDOM WEIGHTS: results are meaningless)" if status["random_weights"] else ""
    click.echo(f"model:     {status['model']} / {status['pretrained']}{weights}")
    click.echo(f"mode:      {status['mode']}")
    images = status["images"] or {}
    click.echo("images:    " + (", ".join(f"{n} {s}" for s, n in sorted(images.items())) or "none"))
    index = status["index"]
    if index:
        click.echo(
            f"index:     generation {index['generation']}, {index['count']} vectors, "
            f"dim {index['dim']}, {index['bytes'] / 1e6:.1f} MB, built {index['built_at']}"
        )
    else:
        click.echo("index:     none yet (run `pixseek ingest PATH`)")
    layouts = status.get("patch_layouts") or {}
    pending = (status.get("enrichment") or {}).get("pending", 0)
    if layouts:
        hint = ""
        if pending:
            hint = f"  ({pending} waiting for their enrich job: whole-picture patches, thumbnails)"
        elif layouts.get("centre"):
            hint = "  (centre crop only: `pixseek regions upgrade`)"
        click.echo("patches:   " + ", ".join(f"{n} {name}" for name, n in sorted(layouts.items())) + hint)
    runtime = status.get("runtime") or {}
    if runtime:
        click.echo(f"runtime:   images on {runtime.get('image')}, text on {runtime.get('text')}")


@click.command("migrate")
@click.option("--revision", default="head", show_default=True)
def migrate_command(revision: str) -> None:
    """Apply database migrations (run once before starting api and workers)."""
    migrate(get_settings(), revision)
    click.echo(f"database migrated to {revision}", err=True)
