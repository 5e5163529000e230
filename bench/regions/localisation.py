"""Does the best patch land on the object? The pointing game on COCO boxes, per patch mode.

For every (image, category) pair of the COCO subset, the text "a photo of a {category}." is
matched against the image's patches; a hit is when the centre of the best cell lies inside
one of that category's ground-truth boxes. Pairs whose boxes all lie outside the centre
crop (which the model never sees) are left out. The box hit rate (the predicted box overlaps
a ground-truth box with IoU >= 0.3) is reported beside it.

Needs real weights: with random ones the numbers mean nothing. Point PIXSEEK_PRETRAINED at
a local open_clip checkpoint (and PIXSEEK_MODEL at its architecture); without one this
prints why and exits 0.

    PIXSEEK_MODEL=ViT-B-32 PIXSEEK_PRETRAINED=/models/vit-b-32.bin \\
        python -m bench.regions.localisation --data ../shared/datasets/coco-mini-train

`--smoke`: two generated photos with made-up boxes and the tiny model with random weights,
to check that every step still runs (its rates mean nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.common import TINY_MODEL, add_smoke_flag, synthetic_photos
from pixseek.core.settings import Settings
from pixseek.media.decode import decode_image
from pixseek.model.encoder import Encoder
from pixseek.model.patch_tokens import PATCH_MODES
from pixseek.model.preprocess import Geometry
from pixseek.search.regions import best_region, cells_to_box

Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def smoke_dataset(folder: Path) -> Path:
    """Two generated 640x480 photos in COCO's layout, with boxes inside the centre crop."""
    paths = synthetic_photos(folder, 2)
    coco = {
        "images": [{"id": i + 1, "file_name": path.name} for i, path in enumerate(paths)],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "bicycle"}],
        "annotations": [
            {"image_id": 1, "category_id": 1, "bbox": [120, 40, 200, 160]},
            {"image_id": 1, "category_id": 2, "bbox": [340, 260, 180, 180]},
            {"image_id": 2, "category_id": 2, "bbox": [200, 100, 240, 280]},
        ],
    }
    (folder / "instances_train2017.json").write_text(json.dumps(coco), encoding="utf-8")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/coco-mini-train"))
    parser.add_argument("--modes", default=",".join(PATCH_MODES))
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        with tempfile.TemporaryDirectory(prefix="pixseek-bench-smoke-") as tmp:
            encoder = Encoder(TINY_MODEL, "none", device="cpu", precision="fp32")
            return evaluate(smoke_dataset(Path(tmp)), encoder, args.modes.split(","))
    settings = Settings()
    checkpoint = os.environ.get("PIXSEEK_PRETRAINED", "")
    if not checkpoint or not Path(checkpoint).is_file():
        sys.stdout.write(
            "skipped: the localisation benchmark needs pretrained weights; set PIXSEEK_PRETRAINED to a "
            "local open_clip checkpoint file (and PIXSEEK_MODEL to its architecture)\n"
        )
        return 0
    encoder = Encoder(settings.model, checkpoint, device=settings.device, precision=settings.precision)
    return evaluate(args.data, encoder, args.modes.split(","))


def evaluate(data: Path, encoder: Encoder, modes: list[str]) -> int:
    """Print the pointing game and box hit rate per patch mode over the COCO-style `data`."""
    coco = json.loads((data / "instances_train2017.json").read_text(encoding="utf-8"))
    names = {c["id"]: c["name"] for c in coco["categories"]}
    boxes: dict[tuple[int, int], list[Box]] = defaultdict(list)
    for ann in coco["annotations"]:
        x, y, w, h = ann["bbox"]
        boxes[(ann["image_id"], ann["category_id"])].append((x, y, x + w, y + h))
    texts = {cid: f"a photo of a {name}." for cid, name in names.items()}
    text_vectors = dict(zip(texts, encoder.encode_texts(list(texts.values())), strict=True))
    stats = {mode: {"pairs": 0, "pointing": 0, "box_iou_0.3": 0} for mode in modes}
    for info in coco["images"]:
        decoded = decode_image((data / info["file_name"]).read_bytes(), max_pixels=10**8)
        pixels, _ = encoder.preprocessor(decoded.image, (decoded.width, decoded.height))
        geometry = Geometry.of(decoded.width, decoded.height, encoder.image_size)
        size = (decoded.width, decoded.height)
        crop = cells_to_box(geometry, encoder.grid, (0, encoder.grid[0] - 1), (0, encoder.grid[1] - 1), size)
        for mode in stats:
            grid = encoder.encode_pixels(pixels[None], mode).patches[0].astype(np.float32)  # type: ignore[arg-type]
            for (image_id, cid), gt in boxes.items():
                if image_id != info["id"] or all(iou(b, tuple(map(float, crop))) == 0 for b in gt):  # type: ignore[arg-type]
                    continue
                cell, rows, cols = best_region(grid @ text_vectors[cid])
                cx0, cy0, cx1, cy1 = cells_to_box(
                    geometry, encoder.grid, (cell[0], cell[0]), (cell[1], cell[1]), size
                )
                px, py = (cx0 + cx1) / 2, (cy0 + cy1) / 2
                pred = tuple(float(v) for v in cells_to_box(geometry, encoder.grid, rows, cols, size))
                stats[mode]["pairs"] += 1
                stats[mode]["pointing"] += any(b[0] <= px <= b[2] and b[1] <= py <= b[3] for b in gt)
                stats[mode]["box_iou_0.3"] += any(iou(pred, b) >= 0.3 for b in gt)  # type: ignore[arg-type]
    report = {
        mode: {
            "pairs": s["pairs"],
            "pointing_game": round(s["pointing"] / max(1, s["pairs"]), 4),
            "box_hit_iou_0.3": round(s["box_iou_0.3"] / max(1, s["pairs"]), 4),
        }
        for mode, s in stats.items()
    }
    sys.stdout.write(
        json.dumps(
            {"model": encoder.model_name, "checkpoint": encoder.pretrained, "results": report}, indent=2
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
