"""`pixseek thumbnails`: make the thumbnails images cataloged before they existed lack."""

from __future__ import annotations

import click

from pixseek.cli.common import emit, handle_errors, json_option
from pixseek.core.db import ensure_schema
from pixseek.core.settings import get_settings
from pixseek.ingest.thumbnailing import backfill_thumbnails


@click.command("thumbnails")
@click.option(
    "--all-sizes",
    is_flag=True,
    help="Every size served (PIXSEEK_THUMBNAIL_SIZES), not only those ingest makes.",
)
@json_option
@handle_errors
def thumbnails_command(all_sizes: bool, as_json: bool) -> None:
    """Make the thumbnails the web UI shows for indexed images that lack them.

    Ingest makes the thumbnails of every new or changed image in the sizes of
    PIXSEEK_THUMBNAIL_INGEST_SIZES; this is for images indexed before thumbnails existed,
    or to make the larger sizes ahead of time (the web UI makes a missing one when it is
    first asked for).
    """
    settings = get_settings()
    ensure_schema(settings)
    sizes = settings.thumbnail_sizes if all_sizes else settings.thumbnail_ingest_sizes
    made = backfill_thumbnails(settings, sizes=sizes)
    if as_json:
        emit({"made": made, "sizes": sizes})
        return
    click.echo(f"thumbnails made for {made} image(s) (sizes {sizes})")
