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
    """Make the thumbnails the web UI shows for indexed images that lack them.

    Ingest makes the thumbnails of every new or changed image; this is for images indexed
    before thumbnails existed (the web UI also makes one on the spot when it is asked for).
    """
    settings = get_settings()
    ensure_schema(settings)
    made = backfill_thumbnails(settings)
    if as_json:
        emit({"made": made, "sizes": settings.thumbnail_sizes})
        return
    click.echo(f"thumbnails made for {made} image(s) (sizes {settings.thumbnail_sizes})")
