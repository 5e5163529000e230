"""`pixseek export DIR` and `pixseek import DIR BUCKET`: embeddings in clip-retrieval's layout."""

from __future__ import annotations

from pathlib import Path

import click

from pixseek.cli.common import emit, handle_errors, json_option
from pixseek.core.db import ensure_schema
from pixseek.core.settings import get_settings


@click.command("export")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--shard-size", type=click.IntRange(min=1), default=1_000_000, show_default=True)
@click.option("--patches", is_flag=True, help="Also the patch grids (patch_emb/patch_emb_N.npy, float16).")
@json_option
@handle_errors
def export_command(folder: Path, shard_size: int, patches: bool, as_json: bool) -> None:
    """Write the searchable images' embeddings and metadata to FOLDER in clip-retrieval's layout.

    img_emb/img_emb_N.npy (float32, L2-normalised) and metadata/metadata_N.parquet (bucket,
    key, image_path, sha256, size, dimensions, format, capture time, tags, OCR text,
    duplicate group), read by pandas, DuckDB and autofaiss as they are; pixseek.json names
    the model. `pixseek import` reads it back.
    """
    from pixseek.index.exchange.export import export_catalog

    settings = get_settings()
    ensure_schema(settings)
    result = export_catalog(settings, folder, shard_size=shard_size, patches=patches)
    values = {
        "folder": str(result.folder),
        "model": result.model,
        "dim": result.dim,
        "count": result.count,
        "shards": result.shards,
        "bytes": result.bytes,
    }
    if as_json:
        emit(values)
        return
    click.echo(f"{result.count} image(s) of {result.model} ({result.dim}-d) in {result.shards} shard(s), "
               f"{result.bytes} bytes: {result.folder}")  # fmt: skip


@click.command("import")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("bucket")
@click.option(
    "--model",
    "model_key",
    default=None,
    help="The model that made the embeddings (name/pretrained) where FOLDER does not say it "
    "(clip-retrieval's output); it must be the configured one.",
)
@json_option
@handle_errors
def import_command(folder: Path, bucket: str, model_key: str | None, as_json: bool) -> None:
    """Make the embeddings in FOLDER searchable for the files of BUCKET, without re-embedding.

    FOLDER is in clip-retrieval's layout: `pixseek export`'s, or clip-retrieval's own output
    (rows name their file by `image_path`, inside BUCKET). Files missing from the bucket, or
    changed since (sha256), are left out and counted.
    """
    from pixseek.ingest.importing import import_embeddings

    settings = get_settings()
    ensure_schema(settings)
    result = import_embeddings(settings, folder, bucket, model_key=model_key)
    values = {
        "model": result.model,
        "rows": result.rows,
        "imported": result.imported,
        "missing": result.missing,
        "changed": result.changed,
        "unreadable": result.unreadable,
        "generation": result.generation,
        "problems": result.problems,
    }
    if as_json:
        emit(values)
        return
    click.echo(
        f"{result.imported} of {result.rows} embedding(s) imported ({result.missing} missing, "
        f"{result.changed} changed, {result.unreadable} unreadable); index generation {result.generation}"
    )
    for problem in result.problems:
        click.echo(f"  {problem}")
