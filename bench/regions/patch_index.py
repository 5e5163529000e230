"""Recall and memory of the compressed patch index against exact search, on synthetic patches.

Synthetic patches imitate CLIP's: each image holds a few "things" (cluster centres on the
unit sphere), each of its patches is one of them plus noise, and a query is a thing's
centre plus more noise (a text is never identical to a patch). Exact search is FAISS's
flat inner product over the same vectors.

Reported, at the default settings (pq_bytes, nprobe, candidates from pixseek.settings):
- R@1 of the raw compressed search (its top patch is the exact top patch);
- `region_search_top1_is_exact`: the exact top-1 patch's image is among the images of the
  top `candidates` compressed hits. Region search re-scores those images exactly on their
  stored patches, so this is how often its best hit is the exact top-1 patch;
- bytes per image: code bytes + the 8-byte ids FAISS keeps in its inverted lists, plus the
  coarse centroids shared by all images, at the measured size and projected to 1M images.

    python -m bench.regions.patch_index --images 2000 --dim 512 --grid 7

`--smoke`: 300 images of 4x4 patches in 64 dimensions, 8-byte codes, one thread and a short
sweep, in seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import faiss
import numpy as np

from bench.common import add_smoke_flag
from pixseek.core.settings import Settings
from pixseek.index.vectors.patch_index import (
    build_index,
    choose_nlist,
    choose_pq_m,
    index_type,
    patch_ids,
    search_index,
    split_ids,
)


def synthetic(images: int, cells: int, dim: int, things: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((things, dim)).astype(np.float32)
    faiss.normalize_L2(centres)
    per_image = rng.integers(0, things, size=(images, 4))  # four things per image
    which = per_image[np.arange(images)[:, None], rng.integers(0, 4, size=(images, cells))]
    vectors = centres[which.reshape(-1)] + 0.08 * rng.standard_normal((images * cells, dim)).astype(
        np.float32
    )
    faiss.normalize_L2(vectors)
    return vectors, centres


def queries(centres: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    q = centres[rng.integers(0, len(centres), n)] + 0.08 * rng.standard_normal((n, centres.shape[1])).astype(
        np.float32
    )
    faiss.normalize_L2(q)
    return q


def main(argv: list[str] | None = None) -> None:
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--grid", type=int, default=7, help="grid side: 7 for ViT-B/32 at 224 px")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--things", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--pq-bytes", type=int, default=defaults.patch_pq_bytes)
    parser.add_argument("--nprobe", type=int, default=defaults.patch_nprobe)
    parser.add_argument("--candidates", type=int, default=defaults.patch_candidates)
    parser.add_argument("--threads", type=int, default=0, help="FAISS threads (0: FAISS's default)")
    parser.add_argument(
        "--sweep", default="8:64,16:256,64:1024", help="extra nprobe:candidates pairs on the same index"
    )
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        args.images, args.grid, args.dim, args.things, args.queries, args.sweep = 300, 4, 64, 50, 20, "8:64"
        args.pq_bytes, args.threads = 8, 1  # one thread: FAISS's OpenMP spins against a busy machine
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    grid = (args.grid, args.grid)
    cells = args.grid * args.grid
    vectors, centres = synthetic(args.images, cells, args.dim, args.things, seed=0)
    ids = patch_ids(np.arange(args.images, dtype=np.int64), grid)
    q = queries(centres, args.queries, seed=0)

    exact = faiss.IndexFlatIP(args.dim)
    exact.add(vectors)
    _, exact_top = exact.search(q, 1)
    exact_ids = ids[exact_top[:, 0]]

    started = time.perf_counter()
    index = build_index(vectors, ids, min_train=1, pq_bytes=args.pq_bytes)
    build_s = time.perf_counter() - started
    _, top1 = search_index(index, q, 1, nprobe=args.nprobe)
    _, cand = search_index(index, q, args.candidates, nprobe=args.nprobe)
    r_at_1 = float(np.mean(top1[:, 0] == exact_ids))
    exact_images, _, _ = split_ids(exact_ids, grid)
    cand_images = [set(split_ids(row[row >= 0], grid)[0].tolist()) for row in cand]
    cand_recall = float(np.mean([int(img) in s for img, s in zip(exact_images, cand_images, strict=True)]))
    in_list = float(np.mean([e in set(row.tolist()) for e, row in zip(exact_ids, cand, strict=True)]))

    m = choose_pq_m(args.dim, args.pq_bytes)
    n = len(vectors)
    nlist = choose_nlist(n)
    per_patch = m + 8
    shared = nlist * args.dim * 4
    million_nlist = choose_nlist(1_000_000 * cells)
    result = {
        "index_type": index_type(index),
        "images": args.images,
        "patches": n,
        "dim": args.dim,
        "queries": args.queries,
        "nprobe": args.nprobe,
        "candidates": args.candidates,
        "build_s": round(build_s, 1),
        "raw_r_at_1": round(r_at_1, 4),
        "exact_top1_patch_in_candidates": round(in_list, 4),
        "region_search_top1_is_exact": round(cand_recall, 4),
        "bytes_per_patch": per_patch,
        "bytes_per_image_here": round(cells * per_patch + shared / args.images, 1),
        "bytes_per_image_at_1M": round(cells * per_patch + million_nlist * args.dim * 4 / 1_000_000, 1),
        "nlist_at_1M": million_nlist,
        "flat_fp32_bytes_per_image": cells * args.dim * 4,
        "compression": round(cells * args.dim * 4 / (cells * per_patch), 1),
    }
    sweep = []
    for pair in filter(None, args.sweep.split(",")):
        nprobe, candidates = (int(v) for v in pair.split(":"))
        _, cand = search_index(index, q, candidates, nprobe=nprobe)
        images = [set(split_ids(row[row >= 0], grid)[0].tolist()) for row in cand]
        rate = float(np.mean([int(i) in s for i, s in zip(exact_images, images, strict=True)]))
        sweep.append(
            {"nprobe": nprobe, "candidates": candidates, "region_search_top1_is_exact": round(rate, 4)}
        )
    result["sweep"] = sweep
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
