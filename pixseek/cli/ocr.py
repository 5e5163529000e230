"""`pixseek ocr`: read the text of a catalog's images now, not only after the next ingest."""

from __future__ import annotations

import click

from pixseek.cli.common import emit, handle_errors, json_option
from pixseek.core.db import ensure_schema
from pixseek.core.settings import get_settings
from pixseek.ingest.ocr import read_catalog_text
from pixseek.ingest.ocr_engines import engine_for


@click.command("ocr")
@click.option(
    "--engine",
    type=click.Choice(["rapidocr", "tesseract"]),
    default=None,
    help="This engine instead of PIXSEEK_OCR__ENGINE; images read by another are read again.",
)
@json_option
@handle_errors
def ocr_command(engine: str | None, as_json: bool) -> None:
    """Read the text in every indexed image that lacks it, so keyword search finds its words.

    Runs whether or not PIXSEEK_OCR__ENABLED makes OCR follow each ingest: images never
    read, changed since, or read by another engine or other language packs are read now
    (embedded: here, batch by batch, resumable; cluster: a job on PIXSEEK_OCR__QUEUE).

    \b
    Examples:
      pixseek ocr
      pixseek ocr --engine tesseract      # PIXSEEK_OCR__LANGUAGES=eng+deu for its packs
    """
    settings = get_settings()
    if engine is not None:
        settings = settings.model_copy(update={"ocr": settings.ocr.model_copy(update={"engine": engine})})
    ensure_schema(settings)
    job_id, summary = read_catalog_text(settings)
    label = engine_for(settings.ocr).label()
    if as_json:
        emit({"job_id": job_id, "engine": label, "summary": summary})
        return
    if job_id is None:
        click.echo(f"every indexed image has its text ({label})")
    elif summary is None:
        click.echo(f"OCR job {job_id} sent to queue {settings.ocr.queue} ({label})")
    else:
        click.echo(
            f"OCR job {job_id} ({label}): read {summary['images']} images, {summary['words']} words "
            f"in {summary['with_text']}, {summary['unread']} unread"
        )
