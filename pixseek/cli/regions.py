"""`pixseek search --regions`: rank images by their best region and print its box."""

from __future__ import annotations

import click

from pixseek.cli.common import emit
from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.search.query import Query
from pixseek.search.regions import RegionSearchService


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
