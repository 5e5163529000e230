"""Region search over the whole picture: the centre crop (baseline) vs tiles vs one full pass.

Generated wide scenes (4:3, 16:9, 3:1; 192 px high) each show a named thing at the left
edge, in the centre or at the right edge, beside another thing, at two sizes: `normal`
(a side of 0.4 x the height) and `small` (0.2 x the height: 1.3-3% of the picture, under
the issue's 5%). The thing's name ("a red circle") is matched against the image's patch
grid made each way:

- `centre` (baseline): open_clip's eval transform, the centred square only;
- `tiles tN`: the picture resized to N x g cells on its shorter side, covered by
  overlapping g x g tiles, overlaps averaged (`pixseek.model.tiling`);
- `full tN`: the same grid from one pass with interpolated position embeddings.

Reported per setting, for edge and centre things and per size: pointing accuracy (the best
cell's centre inside the thing's box), box IoU >= 0.5 with the thing and the mean IoU;
per image: model time to ingest it (CLS pass plus patches: the CLS embedding always
comes from the centre crop), cells, and bytes of patches (fp16 store; exact and IVF-PQ
index). The same byte figures for ViT-B/32 photos follow from the grid alone.

    python -m bench.regions.coverage          # the bundled tiny model
    python -m bench.regions.coverage --smoke  # seconds, random weights, figures mean nothing
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from typing import Any

import numpy as np

from bench.common import TINY_MODEL, add_smoke_flag, machine, output_dir, write_json
from pixseek.demo.scenes import render_wide
from pixseek.demo.wide import ASPECTS, HEIGHT, WideScene, wide_scenes
from pixseek.evaluation.metrics import inside, iou
from pixseek.index.vectors.patch_index import choose_pq_m
from pixseek.model.bundled import SCENES_MODEL, SCENES_WEIGHTS
from pixseek.model.cells import CellGrid
from pixseek.model.encoder import Encoder
from pixseek.model.tiling import plan_layout
from pixseek.search.regions import best_region

SETTINGS = ("centre", "tiles t1", "full t1", "tiles t2", "full t2")
PQ_BYTES = 32  # PIXSEEK_PATCH_PQ_BYTES; at most dim / 4 sub-quantisers (64 dims: 16 bytes)
ID_BYTES = 8  # FAISS's id per vector in an IVF list or an IDMap


def patch_grid(
    encoder: Encoder, scene: WideScene, setting: str, patch_mode: str, max_tiles: int
) -> tuple[np.ndarray, CellGrid, float]:
    """(patches, their cells, model seconds to ingest the image this way)."""
    img = render_wide(scene.layout, scene.width, HEIGHT)
    size = (scene.width, HEIGHT)
    start = time.perf_counter()
    pixels, _ = encoder.preprocessor(img, size)
    centre = encoder.encode_pixels(pixels[None], patch_mode).patches[0]  # type: ignore[arg-type]
    if setting == "centre":
        cells = CellGrid.center_crop(scene.width, HEIGHT, encoder.image_size, encoder.grid)
        return centre, cells, time.perf_counter() - start
    method, tiles = setting.split(" ")
    layout = plan_layout(
        scene.width,
        HEIGHT,
        image_size=encoder.image_size,
        grid=encoder.grid[0],
        tiles=int(tiles[1:]),
        max_tiles=max_tiles,
    )
    inputs = (
        encoder.preprocessor.tiles(img, layout)
        if method == "tiles"
        else encoder.preprocessor.whole(img, layout)
    )
    patches = encoder.encode_whole(inputs, layout, method, patch_mode)  # type: ignore[arg-type]
    return patches, CellGrid.whole(scene.width, HEIGHT, patches.shape[:2]), time.perf_counter() - start


def evaluate(encoder: Encoder, scenes: list[WideScene], patch_mode: str, max_tiles: int) -> dict[str, Any]:
    names = sorted({s.target.name for s in scenes})
    texts = dict(zip(names, encoder.encode_texts([f"a {n}" for n in names]), strict=True))
    tally: dict[tuple[str, str, str], list[tuple[bool, float]]] = defaultdict(list)
    cost: dict[str, list[float]] = defaultdict(list)
    cells_per: dict[tuple[str, str], list[int]] = defaultdict(list)
    for scene in scenes:
        truth = tuple(float(v) for v in scene.box(scene.target))
        where = "centre" if scene.position == "centre" else "edge"
        for setting in SETTINGS:
            patches, cells, seconds = patch_grid(encoder, scene, setting, patch_mode, max_tiles)
            cost[setting].append(seconds)
            cells_per[(setting, scene.aspect)].append(int(patches.shape[0] * patches.shape[1]))
            scores = patches.astype(np.float32) @ texts[scene.target.name]
            (r, c), rows, cols = best_region(scores)
            peak = ((cells.xs[c] + cells.xs[c + 1]) / 2, (cells.ys[r] + cells.ys[r + 1]) / 2)
            box = tuple(float(v) for v in cells.box(rows, cols))
            tally[(setting, where, scene.size)].append((inside(peak, truth), iou(box, truth)))  # type: ignore[arg-type]
    accuracy = {}
    for (setting, where, size), results in sorted(tally.items()):
        hits = np.array([h for h, _ in results], dtype=np.float64)
        ious = np.array([v for _, v in results], dtype=np.float64)
        accuracy[f"{setting} | {where} | {size}"] = {
            "n": len(results),
            "pointing": round(float(hits.mean()), 3),
            "box_iou50": round(float((ious >= 0.5).mean()), 3),
            "mean_iou": round(float(ious.mean()), 3),
        }
    dim = encoder.dim
    per_image = {}
    for setting in SETTINGS:
        per_aspect = {a: float(np.mean(cells_per[(setting, a)])) for a in ASPECTS}
        cells = float(np.mean(list(per_aspect.values())))
        per_image[setting] = {
            "model_ms": round(1000 * float(np.median(cost[setting])), 2),
            "cells_by_aspect": per_aspect,
            "store_bytes": round(cells * dim * 2),
            "exact_index_bytes": round(cells * (dim * 2 + ID_BYTES)),
            "pq_index_bytes": round(cells * (choose_pq_m(dim, PQ_BYTES) + ID_BYTES)),
        }
    return {"accuracy": accuracy, "per_image": per_image}


def vit_b32_bytes(max_tiles: int) -> dict[str, dict[str, int]]:
    """Cells and IVF-PQ index bytes per photo for ViT-B/32 (224 px, 7x7, dim 512), per setting."""
    photos = {
        "4:3 (4000x3000)": (4000, 3000),
        "16:9 (3840x2160)": (3840, 2160),
        "3:1 (6000x2000)": (6000, 2000),
    }
    out: dict[str, dict[str, int]] = {}
    for name, (w, h) in photos.items():
        row = {"centre": 49}
        for tiles in (1, 2, 3):
            layout = plan_layout(w, h, image_size=224, grid=7, tiles=tiles, max_tiles=max_tiles)
            row[f"t{tiles} cells"] = layout.rows * layout.cols
            row[f"t{tiles} tiles"] = len(layout.tiles)
        out[name] = {
            **row,
            **{
                f"{k.split()[0]} pq bytes": v * (PQ_BYTES + ID_BYTES)
                for k, v in row.items()
                if "cells" in k or k == "centre"
            },
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-cell", type=int, default=6, help="scenes per (aspect, position, size)")
    parser.add_argument("--patch-modes", default="clearclip,maskclip")
    parser.add_argument("--max-tiles", type=int, default=16)
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        encoder = Encoder(TINY_MODEL, "none", device="cpu", precision="fp32")
        args.per_cell, args.patch_modes = 1, "clearclip"
    else:
        encoder = Encoder(SCENES_MODEL, str(SCENES_WEIGHTS), device="cpu", precision="fp32")
    scenes = wide_scenes(args.per_cell)
    report: dict[str, Any] = {
        "machine": machine(),
        "model": encoder.model_name,
        "scenes": len(scenes),
        "max_tiles": args.max_tiles,
        "baseline": "centre: the centred square crop (open_clip's eval transform)",
        "results": {
            mode: evaluate(encoder, scenes, mode, args.max_tiles) for mode in args.patch_modes.split(",")
        },
        "vit_b32": vit_b32_bytes(args.max_tiles),
    }
    with output_dir(args.smoke, "regions") as out:
        path = write_json("coverage.json", report, out)
    sys.stdout.write(json.dumps(report, indent=2) + f"\nwritten to {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
