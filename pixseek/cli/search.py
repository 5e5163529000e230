"""`pixseek search`: text, image-file or image-id queries from the terminal."""

from __future__ import annotations

from pathlib import Path

import click

from pixseek.cli.common import emit, handle_errors, json_option
from pixseek.cli.regions import run_region_search
from pixseek.db import ensure_schema, session_scope
from pixseek.errors import InvalidRequest
from pixseek.settings import get_settings
from search.service import Filters, SearchService


@click.command("search")
@click.argument("text", required=False)
@click.option(
    "--image", "image_path", type=click.Path(dir_okay=False, path_type=Path), help="Query by this image file."
)
@click.option("--id", "image_id", type=int, help="Query by an image already in the catalog.")
@click.option("-k", "--limit", "k", type=int, default=10, show_default=True, help="Number of results.")
@click.option("--min-score", type=float, default=None, help="Drop results below this cosine similarity.")
@click.option("--bucket", default=None, help="Only images of this bucket.")
@click.option("--prefix", "key_prefix", default=None, help="Only keys starting with this prefix.")
@click.option("--regions", is_flag=True, help="Rank by best-matching region and print its box.")
@click.option("--smooth", type=int, default=0, show_default=True, help="With --regions: smoothing radius.")
@click.option("--cls-weight", type=float, default=0.0, show_default=True, help="With --regions: CLS share.")
@json_option
@handle_errors
def search_command(
    text: str | None,
    image_path: Path | None,
    image_id: int | None,
    k: int,
    min_score: float | None,
    bucket: str | None,
    key_prefix: str | None,
    regions: bool,
    smooth: int,
    cls_weight: float,
    as_json: bool,
) -> None:
    """Search by TEXT, by --image FILE, or by --id of a cataloged image."""
    given = [x is not None for x in (text, image_path, image_id)]
    if sum(given) != 1:
        raise InvalidRequest("give exactly one of TEXT, --image FILE or --id N")
    settings = get_settings()
    ensure_schema(settings)
    service = SearchService(settings)
    filters = Filters(bucket=bucket, key_prefix=key_prefix)
    if regions:  # region search (issue 6), see pixseek/cli/regions.py
        run_region_search(
            settings,
            text=text,
            image_path=image_path,
            k=k,
            min_score=min_score,
            filters=filters,
            smooth=smooth,
            cls_weight=cls_weight,
            as_json=as_json,
        )
        return
    with session_scope(settings) as session:
        if text is not None:
            hits = service.search_text(session, text, k=k, min_score=min_score, filters=filters)
        elif image_path is not None:
            try:
                data = image_path.read_bytes()
            except OSError as exc:
                raise InvalidRequest(f"cannot read {image_path}: {exc.strerror or exc}") from exc
            vector = service.embed_image_bytes(data, max_bytes=settings.max_file_bytes)
            hits = service.search_vector(session, vector, k=k, min_score=min_score, filters=filters)
        else:
            assert image_id is not None
            hits = service.search_image_id(session, image_id, k=k, min_score=min_score, filters=filters)
    if as_json:
        emit({"results": [hit.as_dict() for hit in hits]})
        return
    for rank, hit in enumerate(hits, 1):
        click.echo(f"{rank:3d}. {hit.score:.4f}  [{hit.id}] {hit.bucket}/{hit.key}")
    if not hits:
        click.echo("no results")


COMMANDS = [search_command]
