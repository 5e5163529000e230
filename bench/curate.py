"""Curation: how well a diverse subset covers, how much a split leaks, what each job costs.

    python -m bench.curate [--n 20000] [--dim 512] [--scale 100000 --scale 1000000] [--json]

Quality, on a synthetic collection of `--n` CLS vectors shaped like a photo library:
clusters of Zipf-distributed sizes and different spreads, 2% of the images planted as
copies of another (duplicate groups, cosine ~0.999) and 3% as retakes of another
(cosine ~0.95, in no group):

- **coverage** of a subset of N pictures: the mean cosine distance from every image to its
  nearest picked one (lower covers better), for pixseek's diverse subset (k-center greedy
  then one medoid step), pure k-center greedy, random picks (mean of 3 seeds), and the
  images nearest k-means centres of the same N (faiss spherical k-means, 20 iterations);
  each picks among the pictures (copies counted once). The raw k-means centroids (not
  images) are given too.
- **leaks** of a split 80/10/10: pairs of copies or retakes that land in different splits,
  pixseek's (groups, stored pairs and CLS retakes at cosine >= 0.9 kept together) against
  a random split image by image; and how many planted retake pairs the retake search found.

Scale, on random unit vectors of `--dim` (each size and job in a fresh process, so its
peak memory is its own): seconds and the peak resident memory above the loaded vectors
(`ru_maxrss`) of each job's algorithm (`search/curation/algorithms.py`): diverse (N=100,
one medoid step), density (10 neighbours), k-means (k=100, with the assignment of every
image), split (retake kNN, components, assignment). SQL reads and writes are not included.

Map layouts (`--map N`): PCA and PCA-50 then t-SNE (openTSNE) on N vectors with local
structure (40 clusters, each a 4-dimensional Gaussian in its own subspace): seconds and the
share of each image's 10 nearest neighbours (cosine) that are among its 10 nearest on the
map, over 2,000 sampled images.

`--scenes`: end to end on pictures instead: the tiny scenes model's held-out library (another
seed) with 40 retake pairs and 20 re-encoded copies, ingested and checked for duplicates
through the product, then split and subset through the services (about a minute).

`--smoke`: 1,500 vectors of 64 dimensions, N 20 and 50, scale 3,000 in
this process, a map of 60: seconds.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from bench.common import add_smoke_flag, output_dir, say, write_json
from pixseek.search.curation import algorithms
from pixseek.search.duplicates.candidates import cls_candidates

REPO = Path(__file__).resolve().parents[1]
JOBS = ("diverse", "density", "kmeans", "split")


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def library(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(vectors, representative row of each, planted copy pairs, planted retake pairs)."""
    rng = np.random.default_rng(seed)
    base = int(n * 0.95)
    clusters = max(10, base // 200)
    sizes = rng.zipf(1.6, clusters).astype(np.float64)
    label = rng.choice(clusters, base, p=sizes / sizes.sum())
    centres = _unit(rng.standard_normal((clusters, dim)))
    spread = rng.uniform(0.6, 1.4, clusters)
    noise = rng.standard_normal((base, dim)) * (spread[label, None] / np.sqrt(dim))
    vectors = [_unit(centres[label] + noise)]
    rep = list(range(base))
    copies, retakes = [], []
    for kind, share, scale in (("copy", 0.02, 0.03), ("retake", 0.03, 0.3)):
        count = int(n * share) if kind == "copy" else n - base - int(n * 0.02)
        of = rng.choice(base, count, replace=False)
        planted = _unit(vectors[0][of] + rng.standard_normal((count, dim)) * (scale / np.sqrt(dim)))
        start = sum(len(v) for v in vectors)
        vectors.append(planted)
        rows = np.arange(start, start + count)
        pairs = copies if kind == "copy" else retakes
        pairs.extend(zip(of.tolist(), rows.tolist(), strict=True))
        rep.extend(of.tolist() if kind == "copy" else rows.tolist())
    return (
        np.concatenate(vectors),
        np.asarray(rep, dtype=np.int64),
        np.asarray(copies, dtype=np.int64).reshape(-1, 2),
        np.asarray(retakes, dtype=np.int64).reshape(-1, 2),
    )


def quality(n: int, dim: int, sizes: list[int], exact_limit: int) -> dict[str, Any]:
    vectors, rep, copies, retakes = library(n, dim)
    reps = np.flatnonzero(rep == np.arange(len(rep)))
    pictures = vectors[reps]
    out: dict[str, Any] = {"images": len(vectors), "pictures": len(reps), "dim": dim, "coverage": {}}
    for size in sizes:
        started = time.perf_counter()
        greedy, radius = algorithms.k_center(pictures, size)
        refined = algorithms.refine_medoids(pictures, greedy, steps=1)
        seconds = time.perf_counter() - started
        rand = [
            algorithms.coverage(
                vectors, reps[np.random.default_rng(s).choice(len(reps), size, replace=False)]
            )
            for s in range(3)
        ]
        centroids, _ = algorithms.kmeans(pictures, size, seed=0)
        index = faiss.IndexFlatIP(dim)
        index.add(pictures)
        _, nearest = index.search(centroids, 1)
        raw = faiss.IndexFlatIP(dim)
        raw.add(centroids)
        sims, _ = raw.search(vectors, 1)
        out["coverage"][str(size)] = {
            "diverse": round(algorithms.coverage(vectors, reps[refined]), 4),
            "kcenter_greedy": round(algorithms.coverage(vectors, reps[greedy]), 4),
            "random": round(float(np.mean(rand)), 4),
            "kmeans_medoids": round(algorithms.coverage(vectors, reps[np.unique(nearest[:, 0])]), 4),
            "kmeans_centroids": round(float(np.mean(1.0 - sims[:, 0])), 4),
            "greedy_radius": round(radius, 4),
            "diverse_seconds": round(seconds, 2),
        }
    found, _ = cls_candidates(vectors, k=10, min_score=0.9, exact_limit=exact_limit, batch=16_384)
    group_links = np.stack([np.arange(len(rep)), rep], axis=1)[rep != np.arange(len(rep))]
    linked = np.concatenate([group_links, found])
    split = algorithms.assign_splits(algorithms.components(len(vectors), linked), [0.8, 0.1, 0.1], seed=0)
    planted = np.concatenate([copies, retakes])
    random = algorithms.random_splits(len(vectors), [0.8, 0.1, 0.1], seed=0)
    found_set = {tuple(p) for p in np.sort(found, axis=1).tolist()}
    out["split"] = {
        "planted_pairs": len(planted),
        "retake_pairs_found": sum(tuple(p) in found_set for p in np.sort(retakes, axis=1).tolist()),
        "retakes_planted": len(retakes),
        "leaked_planted_pairs": algorithms.leaks(planted, split),
        "leaked_linked_pairs": algorithms.leaks(linked, split),
        "random_split_leaked_planted_pairs": algorithms.leaks(planted, random),
        "sizes": np.bincount(split, minlength=3).tolist(),
    }
    return out


def manifold_library(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """`n` vectors with neighbourhoods worth keeping: 40 clusters, each a 4-dimensional
    Gaussian in its own random subspace plus a little isotropic noise."""
    rng = np.random.default_rng(seed)
    clusters = 40
    label = rng.integers(0, clusters, n)
    centres = _unit(rng.standard_normal((clusters, dim)))
    bases = rng.standard_normal((clusters, 4, dim)).astype(np.float32) / np.sqrt(dim)
    local = rng.standard_normal((n, 4)).astype(np.float32) * 1.5
    noise = rng.standard_normal((n, dim)).astype(np.float32) * (0.05 / np.sqrt(dim))
    return _unit(centres[label] + np.einsum("nk,nkd->nd", local, bases[label]) + noise)


def map_layouts(sizes: list[int], dim: int) -> list[dict[str, Any]]:
    """Time and neighbourhood preservation (10-NN kept on the map) of each layout."""
    from pixseek.search.curation.projection import neighbourhood_kept, project

    rows = []
    for n in sizes:
        vectors = manifold_library(n, dim)
        for method in ("pca", "tsne"):
            started = time.perf_counter()
            xy = project(vectors, method)
            seconds = time.perf_counter() - started
            kept = neighbourhood_kept(vectors, xy, k=10, sample=2000)
            rows.append(
                {"images": n, "method": method, "seconds": round(seconds, 1), "kept_10nn": round(kept, 3)}
            )
            say(json.dumps(rows[-1]) + "\n")
    return rows


def scenes(retakes: int = 40, copies: int = 20, seed: int = 4242) -> dict[str, Any]:
    """End to end on pictures: the held-out scene library of the tiny scenes model (another
    seed), `retakes` scenes each with a retake, `copies` re-encoded smaller copies, ingested
    and checked for duplicates through the product, then split and subset by the services."""
    from PIL import Image as PILImage

    from pixseek.core.db import migrate, session_scope
    from pixseek.core.settings import Settings
    from pixseek.demo.library import build_library
    from pixseek.index.catalog.images import Image
    from pixseek.ingest.run import run_ingest
    from pixseek.model.bundled import SCENES_MODEL, SCENES_WEIGHTS
    from pixseek.search.curation import service
    from pixseek.search.curation.collection import load
    from pixseek.search.duplicates.service import DuplicateService

    with tempfile.TemporaryDirectory(prefix="pixseek-bench-curate-scenes-") as tmp:
        root = Path(tmp)
        library = build_library(root / "library", seed=seed, retakes=retakes)
        originals = (library.single + library.pairs)[:copies]
        (root / "library" / "copies").mkdir()
        for scene in originals:
            folder = "single" if scene in library.single else "pairs"
            with PILImage.open(library.folder(folder) / scene.key) as picture:
                small = picture.convert("RGB").resize((128, 128))
                small.save(root / "library" / "copies" / f"copy-{Path(scene.key).stem}.jpg", quality=85)
        settings = Settings(
            data_dir=root / "data",
            database_url=None,
            broker_url=None,
            model=SCENES_MODEL,
            pretrained=str(SCENES_WEIGHTS),
            device="cpu",
            precision="fp32",
            runtime="torch",
        )  # type: ignore[call-arg]
        migrate(settings)
        for folder in ("single", "pairs", "retakes", "copies"):
            run_ingest(settings, str(root / "library" / folder))
        with session_scope(settings) as session:
            DuplicateService(settings).detect(session, full=True)
        with session_scope(settings) as session:
            ids = {(Path(b).name, k): i for i, b, k in session.execute(select_keys(Image))}
            coll = load(session, settings)
        planted = [(ids[("retakes", a.key)], ids[("retakes", b.key)]) for a, b in library.retakes] + [
            (
                ids[("single" if s in library.single else "pairs", s.key)],
                ids[("copies", f"copy-{Path(s.key).stem}.jpg")],
            )
            for s in originals
        ]
        split = service.splits(settings, [0.8, 0.1, 0.1], "bench")
        with session_scope(settings) as session:
            part = {
                image["id"]: name
                for name in ("train", "val", "test")
                for image in service.get_selection(session, f"bench/{name}", limit=100_000)["images"]
            }
        rows = {int(i): r for r, i in enumerate(coll.ids.tolist())}
        pairs = np.asarray([(rows[a], rows[b]) for a, b in planted], dtype=np.int64)
        random = algorithms.random_splits(len(coll), [0.8, 0.1, 0.1], seed=0)
        diverse = service.diverse(settings, 20, "bench-diverse")
        reps = coll.reps
        centroids, _ = algorithms.kmeans(coll.vectors[reps], 20, seed=0)
        index = faiss.IndexFlatIP(coll.vectors.shape[1])
        index.add(coll.vectors[reps])
        _, nearest = index.search(centroids, 1)
        return {
            "images": len(coll),
            "pictures": len(reps),
            "planted_pairs": len(planted),
            "leaked_planted_pairs": sum(part[a] != part[b] for a, b in planted),
            "random_split_leaked_planted_pairs": algorithms.leaks(pairs, random),
            "split_linked_pairs": split["linked_pairs"],
            "split_leaked_pairs": split["leaked_pairs"],
            "split_random_leaked_pairs": split["random_split_leaked_pairs"],
            "diverse20_coverage": diverse["coverage"],
            "random20_coverage": diverse["random_coverage"],
            "kmeans20_medoids_coverage": round(
                algorithms.coverage(coll.vectors, reps[np.unique(nearest[:, 0])]), 4
            ),
        }


def select_keys(image: Any) -> Any:
    from sqlalchemy import select

    return select(image.id, image.bucket, image.key)


def run_job(path: Path, job: str, exact_limit: int) -> dict[str, Any]:
    """One job over the vectors in `path`, in this (fresh) process: seconds and extra peak memory."""
    vectors = np.load(path)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    if job == "diverse":
        greedy, _ = algorithms.k_center(vectors, 100)
        algorithms.refine_medoids(vectors, greedy, steps=1)
    elif job == "density":
        sims, _ = algorithms.knn(vectors, 10, exact_limit=exact_limit)
        algorithms.density(sims)
    elif job == "kmeans":
        algorithms.kmeans(vectors, 100)
    else:
        pairs, _ = cls_candidates(vectors, k=10, min_score=0.9, exact_limit=exact_limit, batch=16_384)
        algorithms.assign_splits(algorithms.components(len(vectors), pairs), [0.8, 0.1, 0.1])
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "job": job,
        "images": len(vectors),
        "seconds": round(seconds, 2),
        "vectors_mb": round(vectors.nbytes / 2**20),
        "extra_peak_mb": round((peak - base) / 1024),
    }


def scale(
    sizes: list[int], dim: int, exact_limit: int, in_process: bool = False, jobs: tuple[str, ...] = JOBS
) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="pixseek-bench-curate-") as tmp:
        for n in sizes:
            path = Path(tmp) / f"v{n}.npy"
            rng = np.random.default_rng(n)
            data = np.lib.format.open_memmap(path, "w+", np.float32, (n, dim))
            for start in range(0, n, 100_000):
                stop = min(n, start + 100_000)
                data[start:stop] = _unit(rng.standard_normal((stop - start, dim), dtype=np.float32))
            data.flush()
            del data
            for job in jobs:
                if in_process:  # a smoke run: no process start-ups (its memory figures mean nothing)
                    rows.append(run_job(path, job, exact_limit))
                    continue
                cmd = [sys.executable, "-m", "bench.curate", "--job", job, "--vectors", str(path)]
                cmd += ["--exact-limit", str(exact_limit)]
                out = subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.PIPE, text=True).stdout
                rows.append(json.loads(out.strip().splitlines()[-1]))
                say(json.dumps(rows[-1]) + "\n")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.curate")
    parser.add_argument("--n", type=int, default=20_000, help="images of the quality library")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--size", type=int, action="append", help="subset sizes N (default 100, 1000)")
    parser.add_argument("--scale", type=int, action="append", help="sizes of the scale runs (default 100000)")
    parser.add_argument(
        "--map", type=int, action="append", help="sizes of the map layout runs (default none)"
    )
    parser.add_argument("--exact-limit", type=int, default=20_000)
    parser.add_argument("--jobs", default=",".join(JOBS), help="scale jobs to run (comma-separated)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--scenes", action="store_true", help="only the end-to-end run on the scene library")
    parser.add_argument("--job", choices=JOBS, help=argparse.SUPPRESS)
    parser.add_argument("--vectors", type=Path, help=argparse.SUPPRESS)
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    if args.job:
        print(json.dumps(run_job(args.vectors, args.job, args.exact_limit)))  # noqa: T201
        return 0
    if args.scenes:
        say(json.dumps(scenes(), indent=1) + "\n")
        return 0
    if args.smoke:
        args.n, args.dim, args.size, args.scale, args.exact_limit = 1500, 64, [20, 50], [3000], 1000
        args.map = [60]
    report = {
        "quality": quality(args.n, args.dim, args.size or [100, 1000], args.exact_limit),
        "scale": scale(
            args.scale or [100_000],
            args.dim,
            args.exact_limit,
            in_process=args.smoke,
            jobs=tuple(j for j in args.jobs.split(",") if j in JOBS),
        ),
        "map": map_layouts(args.map or [], args.dim),
    }
    with output_dir(args.smoke) as folder:
        write_json("curate.json", report, folder)
    say(json.dumps(report, indent=1) + "\n" if args.json else _table(report))
    return 0


def _table(report: dict[str, Any]) -> str:
    q = report["quality"]
    lines = [
        f"coverage (mean cosine distance to the nearest pick; {q['images']} images, {q['pictures']} pictures)"
    ]
    for size, row in q["coverage"].items():
        lines.append(f"  N={size}: " + ", ".join(f"{k} {v}" for k, v in row.items()))
    lines.append("split 80/10/10: " + ", ".join(f"{k} {v}" for k, v in q["split"].items()))
    for row in report["map"]:
        lines.append(
            f"  map {row['method']:4s} {row['images']:>9,d} images {row['seconds']:>8.1f} s"
            f"  10-NN kept {row['kept_10nn']}"
        )
    for row in report["scale"]:
        lines.append(
            f"  {row['job']:8s} {row['images']:>9,d} images {row['seconds']:>8.2f} s"
            f"  +{row['extra_peak_mb']} MB"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
