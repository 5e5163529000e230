"""`pixseek thumbnails`: make the thumbnails images cataloged before they existed lack."""

from __future__ import annotations

import click

from pixseek.cli.common import emit, handle_errors, json_option
from pixseek.core.db import ensure_schema
from pixseek.core.settings import get_settings
from pixseek.ingest.thumbnails import backfill_thumbnails


@click.command("thumbnails")
@json_option
@handle_errors
def thumbnails_command(as_json: bool) -> None:
    """Make the missing thumbnails of indexed images (ingest makes new images' own)."""
    settings = get_settings()
    ensure_schema(settings)
    made = backfill_thumbnails(settings)
    if as_json:
        emit({"made": made, "sizes": settings.thumbnail_sizes})
        return
    click.echo(f"thumbnails made for {made} image(s) (sizes {settings.thumbnail_sizes})")
