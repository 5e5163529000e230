"""Run a query set against one data dir through the search services, and score it.

Text and image queries go through `SearchService.search` (the path of `pixseek search`
and `POST /v1/search`), region queries through the region service's per-image score map
(the path of `GET /v1/images/{id}/heatmap`). Queries naming keys the catalog does not
hold are left out and counted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pixseek.core.active_model import follow_switch
from pixseek.core.db import ensure_schema, session_scope
from pixseek.core.errors import IndexNotReady
from pixseek.core.settings import Settings
from pixseek.evaluation.metrics import inside, iou, ranking_metrics
from pixseek.evaluation.queries import QuerySet, RegionQuery
from pixseek.index.catalog.images import SEARCHABLE, Image
from pixseek.index.vectors.manifest import Manifest
from pixseek.index.vectors.patch_sync import effective_patch_mode
from pixseek.index.vectors.store import IndexStore
from pixseek.ingest.reindex import candidate_settings
from pixseek.search.filters import Filters
from pixseek.search.query import ImageIdPart, Query, TextPart
from pixseek.search.regions import RegionSearchService
from pixseek.search.service import SearchService

log = logging.getLogger(__name__)

DEPTH = 10  # results ranked per query: enough for recall@10, MRR@10 and nDCG@10
BOX_IOU = 0.5


@dataclass
class RunResult:
    """The figures of one data dir: per query kind, the metrics and how many queries counted."""

    data_dir: Path
    model: str
    pretrained: str
    patch_mode: str
    kinds: dict[str, dict[str, float]] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "data_dir": str(self.data_dir),
            "model": self.model,
            "pretrained": self.pretrained,
            "patch_mode": self.patch_mode,
            "kinds": {kind: {k: round(v, 4) for k, v in m.items()} for kind, m in self.kinds.items()},
            "missing": self.missing,
        }


def indexed_model(settings: Settings) -> tuple[str, str]:
    """The model and weights the data dir's current index was built with.

    Raises:
        IndexNotReady: nothing indexed in this data dir.
    """
    store = IndexStore(settings.index_dir)
    generation = store.current_generation()
    if generation is None:
        raise IndexNotReady(f"no index in {settings.data_dir}: run `pixseek ingest PATH` there first")
    manifest = Manifest.read(store.generation_dir(generation) / "manifest.json")
    return manifest.model, manifest.pretrained


def generation_settings(served: Settings, model: str, pretrained: str) -> Settings:
    """The settings of the generation `pixseek reindex` built for `model` beside the served one."""
    candidate = candidate_settings(served.model_copy(update={"patch_mode": None}), model, pretrained)
    if IndexStore(candidate.index_dir).current_generation() is None:
        raise IndexNotReady(
            f"no generation of {model}/{candidate.pretrained} in {served.data_dir}: build it with "
            f"`pixseek reindex --model {model} --pretrained {pretrained} --no-switch`"
        )
    return candidate.model_copy(update={"patch_mode": effective_patch_mode(candidate)})


def settings_for(base: Settings, data_dir: Path) -> Settings:
    """`base` pointed at `data_dir`, with the model and patch mode its index was built with."""
    moved = follow_switch(base.model_copy(update={"data_dir": data_dir, "space": ""}))
    model, pretrained = indexed_model(moved)
    patch_mode = effective_patch_mode(moved.model_copy(update={"patch_mode": None, "model": model}))
    return moved.model_copy(update={"model": model, "pretrained": pretrained, "patch_mode": patch_mode})


def _keys(session: Session, bucket: str | None) -> dict[str, int]:
    """Searchable key -> image id (the first id when buckets share a key)."""
    stmt = select(Image.key, Image.id).where(Image.status.in_(SEARCHABLE)).order_by(Image.id)
    if bucket is not None:
        stmt = stmt.where(Image.bucket == bucket)
    ids: dict[str, int] = {}
    for key, image_id in session.execute(stmt):
        ids.setdefault(str(key), int(image_id))
    return ids


def _ranked(service: SearchService, session: Session, query: Query) -> list[str]:
    return [hit.key for hit in service.search(session, query).hits]


def _region_figures(
    regions: RegionSearchService, session: Session, queries: list[RegionQuery], ids: dict[str, int]
) -> tuple[dict[str, float], int]:
    """Pointing accuracy (the best cell's centre in a true box) and box IoU >= 0.5, per (query, image)."""
    pointing, boxed, pairs, missing = 0, 0, 0, 0
    for query in queries:
        vector = regions.text_vector(query.text)
        for key, truths in query.boxes.items():
            if key not in ids:
                missing += 1
                continue
            result = regions.image_regions(session, ids[key], vector)
            gh, gw = result.scores.shape
            x0, y0, x1, y1 = result.crop
            row, col = result.cell
            peak = (x0 + (col + 0.5) * (x1 - x0) / gw, y0 + (row + 0.5) * (y1 - y0) / gh)
            pointing += any(inside(peak, box) for box in truths)
            boxed += any(iou(result.box, box) >= BOX_IOU for box in truths)
            pairs += 1
    if not pairs:
        return {}, missing
    return {"pairs": float(pairs), "pointing": pointing / pairs, "box_iou50": boxed / pairs}, missing


def evaluate(settings: Settings, queries: QuerySet, *, bucket: str | None = None) -> RunResult:
    """Every query of `queries` against the data dir of `settings`."""
    ensure_schema(settings)
    result = RunResult(settings.data_dir, settings.model, settings.pretrained, effective_patch_mode(settings))
    service = SearchService(settings, follow=False)  # this generation, even one not served yet
    filters = Filters(bucket=bucket)
    with session_scope(settings) as session:
        ids = _keys(session, bucket)
        rankings = []
        missing = 0
        for text_query in queries.texts:
            relevant = {k for k in text_query.relevant if k in ids}
            if not relevant:
                missing += 1
                continue
            query = Query(parts=(TextPart(text_query.text),), filters=filters, limit=DEPTH)
            rankings.append((_ranked(service, session, query), relevant))
        if queries.texts:
            result.kinds["text"] = {"queries": float(len(rankings)), **ranking_metrics(rankings)}
            result.missing["text"] = missing
        rankings, missing = [], 0
        for image_query in queries.images:
            relevant = {k for k in image_query.relevant if k in ids}
            if image_query.key not in ids or not relevant:
                missing += 1
                continue
            query = Query(parts=(ImageIdPart(ids[image_query.key]),), filters=filters, limit=DEPTH)
            rankings.append((_ranked(service, session, query), relevant))
        if queries.images:
            result.kinds["image"] = {"queries": float(len(rankings)), **ranking_metrics(rankings)}
            result.missing["image"] = missing
        if queries.regions:
            regions = RegionSearchService(settings, search=service)
            figures, missing = _region_figures(regions, session, queries.regions, ids)
            result.kinds["region"] = figures
            result.missing["region"] = missing
    log.info("eval.done data_dir=%s model=%s/%s", settings.data_dir, settings.model, settings.pretrained)
    return result
