"""A region as a query: the box's vector from stored patches vs cropping the box and re-embedding it.

Baseline (b) is what a user can already do: crop the box out of the original, upload the
crop, and search with its CLS embedding. Candidate (a) builds the query vector from the
image's stored patch embeddings (the cells under the box, weighted by overlap), with no
decode and no model run. Both vectors are searched the same way, per ranking:

- `regions`: region search (`POST /v1/search/regions`), images ranked by best region,
  the query image left out;
- `semantic`: whole-image search (`POST /v1/search` with the part), the query image left out.

On the held-out library of generated scenes (`pixseek.demo.library`, ingested with the
bundled tiny model), each one-thing scene's thing is a box query. Reported per method:
time per query (p50, p99), R-precision (share of the first R results showing the same
colour and shape, R = the number of other scenes that show it, at most k), how often a
relevant result's box lands on the thing (its centre inside the thing's box), and the
agreement of (a) with (b): the share of (b)'s top-k that (a) also returns.

    PIXSEEK_MODEL=pixseek-scenes PIXSEEK_PRETRAINED=pixseek/model/weights/pixseek-scenes.pt \\
        python -m bench.regions.region_query

`--smoke`: a few scenes and the tiny random-weight model in a temp dir (figures mean nothing).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage
from sqlalchemy import select
from sqlalchemy.orm import Session

from bench.common import TINY_MODEL, add_smoke_flag, machine, output_dir, percentiles, write_json
from pixseek.core.db import dispose_engines, ensure_schema, session_scope
from pixseek.core.settings import Settings
from pixseek.demo.library import SIZE, build_library
from pixseek.demo.scenes import SceneFile, random_layout, write_scenes
from pixseek.evaluation.metrics import inside
from pixseek.index.catalog.images import Image
from pixseek.ingest.run import run_ingest
from pixseek.model.bundled import SCENES_MODEL, SCENES_WEIGHTS
from pixseek.search.query import ImagePart, Query, RegionPart
from pixseek.search.regions import RegionHit, RegionSearchService

K = 10


@dataclass
class Tally:
    ms: list[float] = field(default_factory=list)
    relevant: int = 0
    ranked: int = 0
    landed: int = 0
    boxed: int = 0
    agree: list[float] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        p50, p99 = percentiles(self.ms)
        out: dict[str, Any] = {
            "ms_p50": round(p50, 2),
            "ms_p99": round(p99, 2),
            "r_precision": round(self.relevant / max(1, self.ranked), 3),
        }
        if self.boxed:
            out["box_on_thing"] = round(self.landed / self.boxed, 3)
        if self.agree:
            out["agreement_with_crop_topk"] = round(float(np.mean(self.agree)), 3)
        return out


def _crop_png(path: Path, box: tuple[int, int, int, int]) -> bytes:
    with PILImage.open(path) as img:
        crop = img.convert("RGB").crop(box)
    buf = io.BytesIO()
    crop.save(buf, format="PNG")
    return buf.getvalue()


@dataclass(frozen=True)
class BoxQuery:
    image_id: int
    key: str
    path: Path
    box: tuple[int, int, int, int]
    name: str  # the thing's colour and shape
    relevant: frozenset[str]  # keys of the other scenes that show it


def _relevant_hits(tally: Tally, query: BoxQuery, keys: list[str], depth: int) -> None:
    tally.relevant += sum(key in query.relevant for key in keys[:depth])
    tally.ranked += depth


def _boxes_on_thing(
    tally: Tally, query: BoxQuery, hits: list[RegionHit], by_key: dict[str, SceneFile]
) -> None:
    for hit in hits:
        match = [t for t in by_key[hit.key].layout.things if t.name == query.name]
        if match:
            x0, y0, x1, y1 = hit.box
            centre = ((x0 + x1) / 2, (y0 + y1) / 2)
            tally.boxed += 1
            tally.landed += any(inside(centre, t.pixel_box(SIZE, SIZE)) for t in match)


def _agreement(ours: list[str], baseline: list[str]) -> float:
    return len(set(ours) & set(baseline)) / max(1, len(baseline))


def run_query(
    session: Session,
    regions: RegionSearchService,
    query: BoxQuery,
    k: int,
    tallies: dict[str, Tally],
    by_key: dict[str, SceneFile],
) -> None:
    """One box query, (a) and (b), region and semantic rankings; figures into `tallies`."""
    search = regions.search
    depth = min(k, len(query.relevant))
    for cls_weight in (0.0, 0.5):
        kind = f"regions cls_weight={cls_weight}"
        patch = tallies.setdefault(f"{kind} (a) patches", Tally())
        crop = tallies.setdefault(f"{kind} (b) crop+embed", Tally())
        start = time.perf_counter()
        a = regions.search_region(session, query.image_id, query.box, k=k, cls_weight=cls_weight)
        patch.ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        vector = search.embed_image_bytes(_crop_png(query.path, query.box))
        b = regions.search_vector(session, vector, k=k, cls_weight=cls_weight, exclude_ids={query.image_id})
        crop.ms.append((time.perf_counter() - start) * 1000)
        for tally, hits in ((patch, a), (crop, b)):
            _relevant_hits(tally, query, [h.key for h in hits], depth)
            _boxes_on_thing(tally, query, hits[:depth], by_key)
        patch.agree.append(_agreement([h.key for h in a], [h.key for h in b]))
    patch = tallies.setdefault("semantic (a) patches", Tally())
    crop = tallies.setdefault("semantic (b) crop+embed", Tally())
    start = time.perf_counter()
    a_hits = search.search(session, Query(parts=(RegionPart(query.image_id, query.box),), limit=k)).hits
    patch.ms.append((time.perf_counter() - start) * 1000)
    start = time.perf_counter()
    # An upload is not the cataloged image: ask for one more and drop the query image.
    upload = ImagePart(_crop_png(query.path, query.box))
    b_hits = search.search(session, Query(parts=(upload,), limit=k + 1)).hits
    crop.ms.append((time.perf_counter() - start) * 1000)
    a_keys = [h.key for h in a_hits]
    b_keys = [h.key for h in b_hits if h.key != query.key][:k]
    _relevant_hits(patch, query, a_keys, depth)
    _relevant_hits(crop, query, b_keys, depth)
    patch.agree.append(_agreement(a_keys, b_keys))


def evaluate(
    settings: Settings, folder: Path, scenes: list[SceneFile], queries: list[SceneFile], k: int
) -> dict[str, Any]:
    """Every box query both ways and both rankings (queries are scenes of `folder`): figures per method."""
    by_key = {s.key: s for s in scenes}
    regions = RegionSearchService(settings)
    tallies: dict[str, Tally] = {}
    with session_scope(settings) as session:
        ids = {key: int(i) for i, key in session.execute(select(Image.id, Image.key))}
        box_queries = []
        for scene in queries:
            thing = scene.layout.things[0]
            others = frozenset(
                key
                for key, s in by_key.items()
                if key != scene.key and any(t.name == thing.name for t in s.layout.things)
            )
            if others:
                box = thing.pixel_box(SIZE, SIZE)
                box_queries.append(
                    BoxQuery(ids[scene.key], scene.key, folder / scene.key, box, thing.name, others)
                )
        # Warm every path (model, indexes, caches) outside the timings.
        run_query(session, regions, box_queries[0], k, {}, by_key)
        for query in box_queries:
            run_query(session, regions, query, k, tallies, by_key)
    return {name: tally.report() for name, tally in tallies.items()}


def _ingest(settings: Settings, folders: dict[str, Path]) -> None:
    ensure_schema(settings)
    for folder in folders.values():
        run_ingest(settings, str(folder))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=K, help="results per query")
    parser.add_argument("--patch-modes", default="clearclip,maskclip", help="one ingest per patch mode")
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="pixseek-bench-regionq-") as tmp,
        output_dir(args.smoke, "regions") as out,
    ):
        root = Path(tmp)
        if args.smoke:
            rng = np.random.default_rng(0)
            layouts = [random_layout(rng, kinds=[("red", "circle")]) for _ in range(3)]
            layouts += [random_layout(rng, kinds=[("blue", "square"), ("red", "circle")]) for _ in range(3)]
            single = write_scenes(root / "single", layouts[:3], size=SIZE, prefix="single")
            pairs = write_scenes(root / "pairs", layouts[3:], size=SIZE, prefix="pair")
            folders = {"single": root / "single", "pairs": root / "pairs"}
            scenes, queries = single + pairs, single[:2]
            model, pretrained = TINY_MODEL, "none"
        else:
            library = build_library(root / "library")
            folders = {name: library.folder(name) for name in ("single", "pairs", "retakes")}
            scenes = library.single + library.pairs + [s for pair in library.retakes for s in pair]
            queries = library.single
            model, pretrained = SCENES_MODEL, str(SCENES_WEIGHTS)
        results: dict[str, Any] = {}
        for mode in args.patch_modes.split(","):
            settings = Settings(
                data_dir=root / f"data-{mode}",
                database_url=None,
                broker_url=None,
                model=model,
                pretrained=pretrained,
                device="cpu",
                precision="fp32",
                patch_mode=mode,
            )
            _ingest(settings, folders)
            for name, figures in evaluate(settings, folders["single"], scenes, queries, args.k).items():
                results[f"{mode} {name}"] = figures
            dispose_engines()
        report = {
            "machine": machine(),
            "model": model,
            "images": len(scenes),
            "queries": len(queries),
            "k": args.k,
            "baseline": "(b) crop+embed: crop the box from the original, embed the crop (CLS)",
            "results": results,
        }
        path = write_json("region_query.json", report, out)
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    sys.stdout.write(f"written to {path}\n")
    for name, figures in results.items():
        sys.stdout.write(f"{name:50s} {figures}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
