"""`pixseek search --regions` (rank images by their best region, print its box) and
`pixseek regions upgrade` (re-embed centre-crop patches over the whole picture)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pixseek.cli.common import emit, handle_errors, json_option
from pixseek.core.db import ensure_schema, session_scope
from pixseek.core.settings import Settings, get_settings

if TYPE_CHECKING:
    from pixseek.search.query import Query

# The search services load torch and faiss: imported when a command runs, so that
# `pixseek regions --help` starts light.


def run_region_search(
    settings: Settings,
    *,
    query: Query,
    smooth: int,
    cls_weight: float,
    as_json: bool,
) -> None:
    """Run a region query (any composed query: its combined vector is matched against patches).

    Images given as positive `--like-id` parts (with or without `--box`) are left out of the
    results unless `--include-self`, as in every other search.
    """
    from pixseek.search.regions import RegionSearchService

    service = RegionSearchService(settings)
    with session_scope(settings) as session:
        service.loaded_patch_index()  # fail before loading the model when there is nothing to search
        resolved = service.search.resolve(session, query)
        hits = service.search_vector(
            session,
            resolved.combined.vector,
            exclude_ids=resolved.exclude_ids,
            exclude_shas=resolved.exclude_shas,
            k=query.limit,
            min_score=query.min_score,
            filters=query.filters,
            smooth=smooth,
            cls_weight=cls_weight,
        )
    if as_json:
        emit({"results": [hit.as_dict() for hit in hits]})
        return
    for rank, hit in enumerate(hits, 1):
        x0, y0, x1, y1 = hit.box
        click.echo(
            f"{rank:3d}. {hit.score:.4f}  region {hit.region_score:.4f}  box [{x0},{y0},{x1},{y1}]  "
            f"[{hit.id}] {hit.bucket}/{hit.key}"
        )
    if not hits:
        click.echo("no results")


@click.group("regions")
def regions_group() -> None:
    """Region search upkeep: `upgrade` re-embeds centre-crop patches over the whole picture."""


@regions_group.command("upgrade")
@click.option("--limit", type=int, default=None, help="Upgrade at most this many images in this run.")
@json_option
@handle_errors
def upgrade_command(limit: int | None, as_json: bool) -> None:
    """Re-embed the patches (not the CLS embeddings) of images ingested with centre-crop patches.

    Images from before patches covered the whole picture are searched as they are, but only
    inside their centred square. This re-reads them and makes their patches the configured
    way (PIXSEEK_REGION_COVERAGE, PIXSEEK_REGION_TILES); the index follows batch by batch.
    Interrupted, it goes on where it stopped when run again.
    """
    from pixseek.ingest.patch_upgrade import upgrade_patches

    settings = get_settings()
    ensure_schema(settings)
    summary = upgrade_patches(settings, limit=limit)
    if as_json:
        emit(summary.as_dict())
        return
    click.echo(f"upgraded {summary.upgraded}, failed {len(summary.failed)}, remaining {summary.remaining}")
    for image_id, reason in summary.failed:
        click.echo(f"  [{image_id}] {reason}")
