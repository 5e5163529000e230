"""The offline demo: generate scenes, ingest them with the bundled tiny model, search them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixseek.core.db import ensure_schema, session_scope
from pixseek.core.settings import Settings
from pixseek.demo.scenes import random_layout, read_scenes, write_scenes
from pixseek.index.catalog.jobs import job_summary
from pixseek.ingest.run import run_ingest
from pixseek.model.bundled import SCENES_MODEL, SCENES_WEIGHTS
from pixseek.search.query import Query, TextPart
from pixseek.search.regions import RegionSearchService
from pixseek.search.service import SearchService

log = logging.getLogger(__name__)

# (title, query parts as (text, weight)); the third one is a region query.
# Region queries rank by the best patch mixed half and half with the whole-image score: with
# the tiny model, patches alone point well inside an image but rank images poorly
# (docs/tiny-model.md).
REGION_CLS_WEIGHT = 0.5
SEARCHES: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = (
    ("text", (("a red circle", 1.0),)),
    ("composed", (("a circle", 1.0), ("red", -0.5))),
    ("region", (("a blue square", 1.0),)),
)


@dataclass(frozen=True)
class DemoHit:
    key: str
    score: float
    caption: str
    box: list[int] | None = None


@dataclass(frozen=True)
class DemoSearch:
    title: str
    query: str
    hits: list[DemoHit]


def demo_settings(base: Settings, folder: Path) -> Settings:
    """`base` with the bundled model, its own data dir and catalog inside `folder`, in-process."""
    return base.model_copy(
        update={
            "model": SCENES_MODEL,
            "pretrained": str(SCENES_WEIGHTS),
            "data_dir": folder / "data",
            "database_url": None,
            "broker_url": None,
        }
    )


def write_demo_scenes(folder: Path, count: int, seed: int) -> Path:
    """`count` scenes of one to three things with caption sidecars in `folder/scenes` (kept if there)."""
    scenes = folder / "scenes"
    if not (scenes / "scenes.jsonl").exists():
        rng = np.random.default_rng(seed)
        layouts = [random_layout(rng, things=int(rng.integers(1, 4))) for _ in range(count)]
        write_scenes(scenes, layouts, sidecars=True)
    return scenes


def run_demo(
    base: Settings, folder: Path, *, count: int = 200, seed: int = 0, k: int = 3
) -> tuple[dict[str, object], list[DemoSearch]]:
    """Generate (once), ingest (incrementally) and run the three demo searches.

    Returns the ingest summary and the searches with their top `k` hits.
    """
    settings = demo_settings(base, folder)
    ensure_schema(settings)
    scenes = write_demo_scenes(folder, count, seed)
    job_id = run_ingest(settings, str(scenes))
    captions = {scene.key: scene.caption for scene in read_scenes(scenes)}
    service = SearchService(settings)
    searches: list[DemoSearch] = []
    with session_scope(settings) as session:
        summary = job_summary(session, job_id)
        for title, parts in SEARCHES:
            label = " minus ".join(text for text, _ in parts)
            query = Query(parts=tuple(TextPart(text, weight) for text, weight in parts), limit=k)
            if title == "region":
                regions = RegionSearchService(settings, search=service)
                vector = service.query_vector(session, query)
                region_hits = regions.search_vector(session, vector, k=k, cls_weight=REGION_CLS_WEIGHT)
                hits = [DemoHit(h.key, h.score, captions.get(h.key, ""), list(h.box)) for h in region_hits]
            else:
                page = service.search(session, query)
                hits = [DemoHit(h.key, h.score, captions.get(h.key, "")) for h in page.hits]
            searches.append(DemoSearch(title, label, hits))
    return summary, searches
