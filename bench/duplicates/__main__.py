"""Precision and recall of duplicate pairs per edit, pixseek next to imagehash pHash.

    python -m bench.duplicates [--photos DIR] [--model ViT-B-32] [--json]

Every photo of the folder (default: <repo>/../shared/datasets/coco-mini-train) is copied
with seven edits (bench/duplicates/variants.py); the other photos and their edits are the
distractors. pixseek runs its default offline configuration in a temporary data dir: the
configured model with random weights (`pretrained=none`), ingest, then duplicate detection.
The baseline is imagehash pHash at imagededup's default threshold (Hamming <= 10), all pairs.

A predicted pair is two images pixseek put in one exact or near group (or that pHash
matched). For an edit E: recall is the share of (original, E-copy) pairs predicted;
precision is the share of predicted pairs touching an E-copy that join the same photo.

`--smoke`: three generated photos and their edits with the tiny model, to check that it
still runs.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
import tempfile
import time
from collections.abc import Iterable
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.common import TINY_MODEL, add_smoke_flag, synthetic_photos
from bench.duplicates.variants import TRANSFORMS, make_variant

REPO = Path(__file__).resolve().parents[2]
DEFAULT_PHOTOS = REPO.parent / "shared" / "datasets" / "coco-mini-train"
PHASH_THRESHOLD = 10
Pair = tuple[str, str]


def build(photos: list[Path], folder: Path) -> dict[str, tuple[str, str]]:
    """Write originals and edits; returns key -> (source photo, edit name or 'original')."""
    truth: dict[str, tuple[str, str]] = {}
    folder.mkdir(parents=True, exist_ok=True)
    for path in photos:
        data = path.read_bytes()
        stem = path.stem
        (folder / f"{stem}.jpg").write_bytes(data)
        truth[f"{stem}.jpg"] = (stem, "original")
        image = Image.open(io.BytesIO(data)).convert("RGB")
        for name in TRANSFORMS:
            key = f"{stem}__{name}.jpg"
            (folder / key).write_bytes(make_variant(image, name))
            truth[key] = (stem, name)
    return truth


def _pair(a: str, b: str) -> Pair:
    return (a, b) if a <= b else (b, a)


def pixseek_pairs(folder: Path, data_dir: Path, model: str) -> tuple[set[Pair], dict[str, float]]:
    from pixseek.core.db import ensure_schema, session_scope
    from pixseek.core.settings import Settings
    from pixseek.ingest.run import run_ingest
    from pixseek.search.duplicates.service import DuplicateService

    # Embedded mode on SQLite in `data_dir`, whatever the environment names.
    settings = Settings(data_dir=data_dir, model=model, pretrained="none", database_url=None, broker_url=None)
    ensure_schema(settings)
    started = time.perf_counter()
    run_ingest(settings, str(folder))
    ingested = time.perf_counter()
    service = DuplicateService(settings)
    with session_scope(settings) as session:
        service.detect(session)
    detected = time.perf_counter()
    with session_scope(settings) as session:
        _, groups = service.list_groups(session, limit=settings.max_results)
        total, _ = service.list_groups(session, limit=1)
        while len(groups) < total:
            _, more = service.list_groups(session, offset=len(groups), limit=settings.max_results)
            groups.extend(more)
    # Exact copies are listed once in near groups (by their keeper): join through them.
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for group in groups:
        if group.kind not in ("exact", "near"):
            continue
        keys = [image.key for image in group.images]
        for key in keys[1:]:
            parent[find(key)] = find(keys[0])
    clusters: dict[str, list[str]] = {}
    for key in list(parent):
        clusters.setdefault(find(key), []).append(key)
    pairs = {_pair(a, b) for members in clusters.values() for a, b in combinations(members, 2)}
    timings = {"ingest_s": ingested - started, "detect_s": detected - ingested}
    return pairs, timings


def phash_pairs(folder: Path, keys: Iterable[str]) -> set[Pair]:
    import imagehash

    names = sorted(keys)
    bits = np.stack([imagehash.phash(Image.open(folder / key)).hash.ravel() for key in names]).astype(
        np.uint8
    )
    dist = (bits[:, None, :] != bits[None, :, :]).sum(axis=-1)
    i, j = np.nonzero(np.triu(dist <= PHASH_THRESHOLD, 1))
    return {_pair(names[a], names[b]) for a, b in zip(i.tolist(), j.tolist(), strict=True)}


def score(pairs: set[Pair], truth: dict[str, tuple[str, str]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    originals = {src: key for key, (src, edit) in truth.items() if edit == "original"}
    for edit in TRANSFORMS:
        wanted = {_pair(originals[src], key) for key, (src, e) in truth.items() if e == edit}
        touching = [p for p in pairs if truth[p[0]][1] == edit or truth[p[1]][1] == edit]
        correct = sum(truth[a][0] == truth[b][0] for a, b in touching)
        out[edit] = {
            "precision": correct / len(touching) if touching else 1.0,
            "recall": len(wanted & pairs) / len(wanted),
            "predicted": len(touching),
        }
    same = {_pair(a, b) for a, b in combinations(sorted(truth), 2) if truth[a][0] == truth[b][0]}
    correct_all = sum(truth[a][0] == truth[b][0] for a, b in pairs)
    out["all pairs"] = {
        "precision": correct_all / len(pairs) if pairs else 1.0,
        "recall": len(same & pairs) / len(same),
        "predicted": len(pairs),
    }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.duplicates", description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument(
        "--model", default="ViT-B-32", help="open_clip model, random weights (default ViT-B-32)"
    )
    parser.add_argument("--limit", type=int, default=0, help="use only the first N photos")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="pixseek-dup-bench-") as tmp:
        if args.smoke:
            args.model = TINY_MODEL
            photos = synthetic_photos(Path(tmp) / "generated", 3)
        else:
            photos = sorted(p for p in args.photos.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if args.limit:
            photos = photos[: args.limit]
        if not photos:
            print(f"no photos under {args.photos}; nothing to measure", file=sys.stderr)  # noqa: T201
            return 0
        folder = Path(tmp) / "photos"
        truth = build(photos, folder)
        ours, timings = pixseek_pairs(folder, Path(tmp) / "data", args.model)
        started = time.perf_counter()
        baseline = phash_pairs(folder, truth)
        timings["phash_s"] = time.perf_counter() - started
    result: dict[str, Any] = {
        "photos": len(photos),
        "images": len(truth),
        "model": f"{args.model} (pretrained=none: random weights)",
        "pixseek": score(ours, truth),
        "phash": score(baseline, truth),
        "timings": {k: round(v, 2) for k, v in timings.items()},
    }
    if args.json:
        print(json.dumps(result, indent=2))  # noqa: T201
        return 0
    lines = [
        f"{result['photos']} photos x {len(TRANSFORMS) + 1} = {result['images']} images",
        f"model {result['model']}",
        "",
        f"| edit | pixseek precision | pixseek recall | pHash<={PHASH_THRESHOLD} precision | pHash recall |",
        "|---|---|---|---|---|",
    ]
    for edit in [*TRANSFORMS, "all pairs"]:
        p, b = result["pixseek"][edit], result["phash"][edit]
        cells = f"{p['precision']:.3f} | {p['recall']:.3f}"
        lines.append(f"| {edit} | {cells} | {b['precision']:.3f} | {b['recall']:.3f} |")
    lines += ["", "timings (s): " + ", ".join(f"{k}={v}" for k, v in result["timings"].items())]
    print("\n".join(lines))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
