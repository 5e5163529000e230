"""`pixseek search --regions`: rank images by their best region and print its box."""

from __future__ import annotations

from pathlib import Path

import click

from pixseek.cli.common import emit
from pixseek.db import session_scope
from pixseek.errors import InvalidRequest
from pixseek.settings import Settings
from search.regions import RegionSearchService
from search.service import Filters


def run_region_search(
    settings: Settings,
    *,
    text: str | None,
    image_path: Path | None,
    k: int,
    min_score: float | None,
    filters: Filters,
    smooth: int,
    cls_weight: float,
    as_json: bool,
) -> None:
    """Run a region query by TEXT or --image FILE and print the hits with their boxes."""
    if text is None and image_path is None:
        raise InvalidRequest("--regions works with TEXT or --image FILE")
    service = RegionSearchService(settings)
    with session_scope(settings) as session:
        if text is not None:
            hits = service.search_text(
                session, text, k=k, min_score=min_score, filters=filters, smooth=smooth, cls_weight=cls_weight
            )
        else:
            assert image_path is not None
            try:
                data = image_path.read_bytes()
            except OSError as exc:
                raise InvalidRequest(f"cannot read {image_path}: {exc.strerror or exc}") from exc
            hits = service.search_image_bytes(
                session,
                data,
                max_bytes=settings.max_file_bytes,
                k=k,
                min_score=min_score,
                filters=filters,
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
