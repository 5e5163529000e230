"""Precision and recall of duplicate groups per edit, on photos held out from tuning, next to pHash.

    python -m bench.duplicates [--datasets DIR] [--model pixseek-tiny] [--limit N] [--json]
                               [--near BITS AGREEMENT CONTAINED]

Every photo under the datasets folder (default <repo>/../shared/datasets, each subfolder's
`*.jpg`/`*.png`) gets the copies of `bench/duplicates/variants.py`: a byte-identical copy,
resizing, JPEG quality 25, brightness, grayscale, a caption, a centre crop, crops from a
corner and from a side (60-95% kept, resized, recompressed), a mirror, a flip, rotations
by 90/180/270 degrees, a rotated corner crop; and five **contained** copies
(`bench/duplicates/contained.py`): the whole photo inside a larger picture, 60-90% of its
sides, anywhere (on a plain margin, letterboxed, in a phone screenshot with its bars, on a
backdrop, in a collage). The photos are split in two halves by name (alternately):
thresholds are **tuned on one half** and **scored on the other**.

Tuning (on signatures alone, no model): every pair of the tuning half is compared the
way detection compares them; among the thresholds with a precision of at least 0.995 over
the tuning pairs and a recall within 0.01 of the best, the smallest Hamming radius is
kept (fewer candidates at scale), then the strictest patch agreement. pHash (imagehash,
64 bits) gets its Hamming threshold tuned the same way.

Scoring (held-out half): pixseek runs end to end in a temporary data dir (ingest with the
given model and random weights, then duplicate detection with the tuned thresholds); the
groups it lists are what a person sees. pHash's matched pairs are grouped by the same rule
(star groups around the keeper, keeper = largest resolution, then largest file), so both
are scored through groups: a predicted pair is two images in one group. For an edit E:
recall is the share of (original, E-copy) pairs predicted; precision is the share of
predicted pairs touching an E-copy whose two images come from the same photo.

`--smoke`: three generated photos and their copies with the tiny model, to check that it
still runs.
"""

from __future__ import annotations

import argparse
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

from bench.common import TINY_MODEL, add_smoke_flag, cpu_info, synthetic_photos
from bench.duplicates.contained import PLACEMENTS, make_contained
from bench.duplicates.variants import TRANSFORMS, make_variant

log = logging.getLogger("bench.duplicates")
REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATASETS = REPO.parent / "shared" / "datasets"
TARGET_PRECISION = 0.995
RECALL_SLACK = 0.01  # recall given up on the tuning half for a smaller radius and a stricter agreement
Pair = tuple[str, str]
Truth = dict[str, tuple[str, str]]  # key -> (source photo, edit name or "original")
# Every copy each photo gets: the edits, then the contained copies (the photo inside a larger picture).
EDITS = [*TRANSFORMS, *PLACEMENTS]


def find_photos(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def build(photos: list[Path], folder: Path) -> Truth:
    """Write originals and copies; returns the truth of every key."""
    truth: Truth = {}
    folder.mkdir(parents=True, exist_ok=True)
    for path in photos:
        data = path.read_bytes()
        stem = f"{path.parent.name}-{path.stem}"
        (folder / f"{stem}.jpg").write_bytes(data)
        truth[f"{stem}.jpg"] = (stem, "original")
        for name in EDITS:
            key = f"{stem}__{name}.jpg"
            made = make_variant(data, name, stem) if name in TRANSFORMS else make_contained(data, name, stem)
            (folder / key).write_bytes(made)
            truth[key] = (stem, name)
    return truth


def _pair(a: str, b: str) -> Pair:
    return (a, b) if a <= b else (b, a)


def _same(truth: Truth, a: str, b: str) -> bool:
    return truth[a][0] == truth[b][0]


# --- tuning on the first half -------------------------------------------------------------


def _signatures(folder: Path, keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    from pixseek.media.perceptual_hash import signature

    sigs = [signature(Image.open(folder / key)) for key in keys]
    return np.stack([s.codes for s in sigs]), np.stack([s.thumb for s in sigs])


def _choose(scores: list[tuple[tuple[Any, ...], int, int, int]]) -> tuple[Any, ...]:
    """The cheapest setting within RECALL_SLACK of the best recall at precision >= TARGET.

    Settings are (radius, strictness...): the smallest radius wins (fewer candidates to
    check at scale), then the strictest rest (the highest agreement threshold).
    """
    fine = []
    for setting, true_pos, predicted, wanted in scores:
        precision = true_pos / predicted if predicted else 1.0
        if precision >= TARGET_PRECISION:
            fine.append((true_pos / wanted if wanted else 1.0, setting))
    if not fine:
        raise RuntimeError("no setting reaches the target precision on the tuning half")
    best = max(recall for recall, _ in fine)
    close = [setting for recall, setting in fine if recall >= best - RECALL_SLACK]
    return min(close, key=lambda setting: (setting[0], *(-x for x in setting[1:])))


def tune_pixseek(folder: Path, truth: Truth) -> dict[str, float]:
    """near_hash_distance, near_patch_agreement and contained_patch_agreement tuned on every pair.

    A pair whose best fit is an inset of the larger picture is judged by the contained
    agreement, any other by the near one (as `matching.classify` does).
    """
    from pixseek.media.perceptual_hash import best_alignment, compare_many
    from pixseek.search.duplicates.matching import inset_alignments

    keys = sorted(truth)
    codes, thumbs = _signatures(folder, keys)
    i, j = np.triu_indices(len(keys), 1)
    distance, *_ = best_alignment(codes[i], codes[j])
    close = distance <= 16  # farther pairs cannot pass any setting tried
    i, j = i[close], j[close]
    scores = compare_many(codes[i], thumbs[i], codes[j], thumbs[j])
    inset, _ = inset_alignments(scores, codes[i], codes[j])
    same = np.array([_same(truth, keys[a], keys[b]) for a, b in zip(i, j, strict=True)], dtype=bool)
    wanted = sum(1 for a, b in combinations(keys, 2) if _same(truth, a, b))
    grid = []
    levels = [round(float(x), 2) for x in np.arange(0.40, 0.96, 0.05)]
    for bits in range(6, 17):
        close = scores.distance <= bits
        for near in levels:
            near_hit = close & ~inset & (scores.agreement >= near - 1e-9)
            for contained in levels:
                hit = near_hit | (close & inset & (scores.agreement >= contained - 1e-9))
                grid.append(((bits, near, contained), int((hit & same).sum()), int(hit.sum()), wanted))
    bits, agreement, contained = _choose(grid)
    for (b_, a_, c_), tp, pred, want in grid:
        if (
            (a_, c_) == (agreement, contained)
            or (b_, c_) == (bits, contained)
            or (b_, a_) == (bits, agreement)
        ):
            log.info(
                "tune bits=%d near=%.2f contained=%.2f precision=%.4f recall=%.4f",
                b_,
                a_,
                c_,
                tp / max(pred, 1),
                tp / want,
            )
    return {
        "near_hash_distance": int(bits),
        "near_patch_agreement": float(agreement),
        "contained_patch_agreement": float(contained),
    }


def _phash_bits(folder: Path, keys: list[str]) -> np.ndarray:
    import imagehash

    return np.stack([imagehash.phash(Image.open(folder / key)).hash.ravel() for key in keys]).astype(np.uint8)


def tune_phash(folder: Path, truth: Truth) -> int:
    keys = sorted(truth)
    bits = _phash_bits(folder, keys)
    dist = (bits[:, None, :] != bits[None, :, :]).sum(axis=-1)
    i, j = np.triu_indices(len(keys), 1)
    same = np.array([_same(truth, keys[a], keys[b]) for a, b in zip(i, j, strict=True)], dtype=bool)
    d = dist[i, j]
    grid = [((t,), int(((d <= t) & same).sum()), int((d <= t).sum()), int(same.sum())) for t in range(0, 33)]
    return int(_choose(grid)[0])


# --- scoring on the held-out half ---------------------------------------------------------


def pixseek_groups(
    folder: Path, data_dir: Path, model: str, tuned: dict[str, float]
) -> tuple[list[list[str]], dict[str, float]]:
    from pixseek.core.db import ensure_schema, session_scope
    from pixseek.core.settings import DuplicateSettings, Settings
    from pixseek.ingest.run import run_ingest
    from pixseek.search.duplicates.service import DuplicateService

    # Embedded mode on SQLite in `data_dir`, whatever the environment names.
    settings = Settings(
        data_dir=data_dir,
        model=model,
        pretrained="none",
        database_url=None,
        broker_url=None,
        duplicates=DuplicateSettings(**tuned),
    )
    ensure_schema(settings)
    started = time.perf_counter()
    run_ingest(settings, str(folder))
    ingested = time.perf_counter()
    service = DuplicateService(settings)
    with session_scope(settings) as session:
        service.detect(session)
    detected = time.perf_counter()
    groups: list[list[str]] = []
    with session_scope(settings) as session:
        total, _ = service.list_groups(session, limit=1)
        while len(groups) < total:
            _, page = service.list_groups(session, offset=len(groups), limit=settings.max_results)
            groups.extend([str(image.key) for image in group.images] for group in page)
    return groups, {"ingest_s": ingested - started, "detect_s": detected - ingested}


def phash_groups(folder: Path, keys: Iterable[str], threshold: int) -> list[list[str]]:
    """pHash pairs grouped by pixseek's own rule: stars around the keeper (largest picture, then file)."""
    from pixseek.search.duplicates.grouping import star_groups

    names = sorted(keys)
    bits = _phash_bits(folder, names)
    dist = (bits[:, None, :] != bits[None, :, :]).sum(axis=-1)
    i, j = np.nonzero(np.triu(dist <= threshold, 1))
    sizes = {}
    for n, key in enumerate(names):
        with Image.open(folder / key) as img:
            sizes[n] = (-img.width * img.height, -(folder / key).stat().st_size, n)
    stars = star_groups(((int(a), int(b), None) for a, b in zip(i, j, strict=True)), rank=sizes.__getitem__)
    return [[names[s.keeper], *(names[m] for m in s.members)] for s in stars]


def pairs_in(groups: list[list[str]]) -> set[Pair]:
    return {_pair(a, b) for members in groups for a, b in combinations(members, 2)}


def score(pairs: set[Pair], truth: Truth) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    originals = {src: key for key, (src, edit) in truth.items() if edit == "original"}
    for edit in EDITS:
        wanted = {_pair(originals[src], key) for key, (src, e) in truth.items() if e == edit}
        touching = [p for p in pairs if edit in (truth[p[0]][1], truth[p[1]][1])]
        correct = sum(_same(truth, a, b) for a, b in touching)
        out[edit] = {
            "precision": correct / len(touching) if touching else 1.0,
            "recall": len(wanted & pairs) / len(wanted),
            "predicted": len(touching),
        }
    wanted_all = {_pair(originals[src], key) for key, (src, e) in truth.items() if e != "original"}
    correct_all = sum(_same(truth, a, b) for a, b in pairs)
    out["all edits"] = {
        "precision": correct_all / len(pairs) if pairs else 1.0,
        "recall": len(wanted_all & pairs) / len(wanted_all),
        "predicted": len(pairs),
    }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.duplicates", description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument(
        "--model", default=TINY_MODEL, help="open_clip model, random weights (near copies do not use it)"
    )
    parser.add_argument("--limit", type=int, default=0, help="use only the first N photos")
    parser.add_argument(
        "--near",
        nargs=3,
        type=float,
        metavar=("BITS", "AGREEMENT", "CONTAINED"),
        help="score pixseek with these thresholds (near bits and agreement, contained agreement) instead of "
        "tuning them (pHash is still tuned)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    log.setLevel(logging.INFO)
    with tempfile.TemporaryDirectory(prefix="pixseek-dup-bench-") as tmp:
        if args.smoke:
            args.model = TINY_MODEL
            photos = synthetic_photos(Path(tmp) / "generated", 4)
        else:
            photos = find_photos(args.datasets)
        if args.limit:
            photos = photos[: args.limit]
        if len(photos) < 2:
            print(f"fewer than two photos under {args.datasets}; nothing to measure", file=sys.stderr)  # noqa: T201
            return 0
        tune_photos, held_out = photos[0::2], photos[1::2]
        tune_truth = build(tune_photos, Path(tmp) / "tune")
        started = time.perf_counter()
        if args.near:
            tuned = {
                "near_hash_distance": int(args.near[0]),
                "near_patch_agreement": args.near[1],
                "contained_patch_agreement": args.near[2],
            }
        else:
            tuned = tune_pixseek(Path(tmp) / "tune", tune_truth)
        phash_threshold = tune_phash(Path(tmp) / "tune", tune_truth)
        tuning_s = time.perf_counter() - started
        folder = Path(tmp) / "held-out"
        truth = build(held_out, folder)
        ours, timings = pixseek_groups(folder, Path(tmp) / "data", args.model, tuned)
        started = time.perf_counter()
        baseline = phash_groups(folder, truth, phash_threshold)
        timings["phash_s"] = time.perf_counter() - started
        timings["tuning_s"] = tuning_s
    cpu, flags = cpu_info()
    result: dict[str, Any] = {
        "photos": {"tuning": len(tune_photos), "held_out": len(held_out)},
        "images": {"tuning": len(tune_truth), "held_out": len(truth)},
        "model": f"{args.model} (pretrained=none: random weights)",
        "tuned": {"pixseek": tuned, "phash_threshold": phash_threshold},
        "pixseek_thresholds": "given (--near)" if args.near else "tuned on the tuning half",
        "pixseek": score(pairs_in(ours), truth),
        "phash": score(pairs_in(baseline), truth),
        "timings": {k: round(v, 2) for k, v in timings.items()},
        "cpu": cpu,
        "cpu_flags": sorted(f for f in flags if f.startswith(("avx", "amx"))),
    }
    if args.json:
        print(json.dumps(result, indent=2))  # noqa: T201
        return 0
    p_t = result["tuned"]["phash_threshold"]
    lines = [
        f"{cpu}; {' '.join(result['cpu_flags'])}",
        f"tuned on {len(tune_photos)} photos ({len(tune_truth)} images): pixseek {tuned}, pHash <= {p_t}",
        f"scored on {len(held_out)} held-out photos ({len(truth)} images); model {result['model']}",
        "",
        f"| edit | pixseek precision | pixseek recall | pHash<={p_t} precision | pHash recall |",
        "|---|---|---|---|---|",
    ]
    for edit in [*EDITS, "all edits"]:
        p, b = result["pixseek"][edit], result["phash"][edit]
        cells = f"{p['precision']:.3f} | {p['recall']:.3f}"
        lines.append(f"| {edit} | {cells} | {b['precision']:.3f} | {b['recall']:.3f} |")
    lines += ["", "timings (s): " + ", ".join(f"{k}={v}" for k, v in result["timings"].items())]
    print("\n".join(lines))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
