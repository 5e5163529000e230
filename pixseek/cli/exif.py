"""`pixseek exif`: read the camera, lens and place of images cataloged before pixseek read EXIF."""

from __future__ import annotations

import click

from pixseek.cli.common import emit, handle_errors, json_option
from pixseek.core.db import ensure_schema
from pixseek.core.settings import get_settings
from pixseek.ingest.exif import backfill_exif


@click.command("exif")
@json_option
@handle_errors
def exif_command(as_json: bool) -> None:
    """Read the EXIF (camera, lens, exposure, GPS and place) of indexed images that lack it.

    Ingest reads it for every new or changed file; this is for images indexed before
    pixseek did (nothing is embedded again: each file is read and its EXIF parsed).
    """
    settings = get_settings()
    ensure_schema(settings)
    read = backfill_exif(settings)
    if as_json:
        emit({"read": read})
        return
    click.echo(f"EXIF read for {read} image(s)")
