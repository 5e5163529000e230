"""Filtered search on an approximate index: recall@10 against exact filtered search, and latency.

A SQLite catalog of n clustered unit vectors (`bench.search.data`, ids 1..n) with their
stored vectors, and the index `index.factory` builds for n (IVF2048,SQ8 at 1M), published as
the service loads it. Queries: held-out vectors ("near") and the same moved off (cosine ~0.7,
"far"). Filters keep 0.1%, 1%, 10% and 50% of the images:

- random: `size` is a random permutation of 0..n-1 and the filter is `max_size` (what a
  filter unrelated to content does);
- region: the images closest to one direction (a database vector), for several directions,
  the first in the densest theme (a bucket or folder of one kind of photo; the hard case
  for IVF when the query lies elsewhere). Recall is given as min / mean over directions.

Per filter and query, the top-10 of: the production path (stored vectors up to
`search_exact_max` images, the index with `filtered_search_params` above), the previous
path (the same, with an id selector at the index's own nprobe), the index with nprobe x
3/f but no exhaustive scan, exact filtered search (a flat index over all vectors with the
selector; the recall baseline is brute force in numpy), and unfiltered search. Latency:
median wall time of one single-query search, reported as ratios within this run. SQL id
selection (which every path pays first) is timed once per filter; the first few queries also
go through `SearchService.search`, whose results must equal the production path's.

Usage (from the repository root):
    python -m bench.search_filters.run                # 1M x 512, cached under bench/out/
    python -m bench.search_filters.run --smoke        # 20k x 64 in a temp dir: seconds
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from bench.common import OUT, machine, write_json
from bench.search_filters import catalog, paths
from pixseek.core.db import dispose_engines, session_scope
from pixseek.index.catalog.images import Image
from pixseek.index.vectors.factory import EXHAUSTIVE_FRACTION, FILTER_PROBE_GAIN, recall_at_k
from pixseek.index.vectors.store import LoadedIndex
from pixseek.search.filters import Filters, conditions
from pixseek.search.query import Query, VectorPart
from pixseek.search.service import SearchService

SELECTIVITIES = (0.001, 0.01, 0.1, 0.5)
K = paths.K
BLOCK = 20_000  # rows per numpy block of the brute force: queries x BLOCK float32 scores
SERVICE_QUERIES = 5
SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_bf16")


def emit(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def cpu_flags() -> list[str]:
    """The SIMD flags of this CPU that FAISS and numpy kernels may use."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as fh:
            flags = next((line.split(":", 1)[1].split() for line in fh if line.startswith("flags")), [])
    except OSError:
        return []
    return [f for f in SIMD_FLAGS if f in flags]


def truth(base: np.ndarray, queries: np.ndarray, masks: list[np.ndarray]) -> list[np.ndarray]:
    """For each mask, the ids (rows + 1) of the exact top-K among its rows, per query.

    One pass over `base` in blocks (it may be a 2 GiB memory map): each block's scores are
    computed once and shared by every mask.
    """
    best = [
        (np.full((len(queries), K), -np.inf, np.float32), np.zeros((len(queries), K), np.int64))
        for _ in masks
    ]
    for start in range(0, len(base), BLOCK):
        scores = queries @ np.asarray(base[start : start + BLOCK], dtype=np.float32).T
        for m, mask in enumerate(masks):
            masked = np.where(mask[start : start + BLOCK][None, :], scores, -np.inf)
            part = np.argpartition(-masked, K - 1, axis=1)[:, :K]
            cand_s = np.concatenate([best[m][0], np.take_along_axis(masked, part, axis=1)], axis=1)
            cand_i = np.concatenate([best[m][1], part + start + 1], axis=1)
            order = np.argsort(-cand_s, axis=1)[:, :K]
            best[m] = (np.take_along_axis(cand_s, order, axis=1), np.take_along_axis(cand_i, order, axis=1))
    return [ids for _, ids in best]


def region_directions(base: np.ndarray, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`count` database vectors to centre region filters on: the first in the densest theme
    of a sample (the hardest filter found: it keeps one big theme, and most queries lie in
    others), the rest at random."""
    picks = np.sort(rng.choice(len(base), size=min(len(base), 2_000), replace=False))
    sample = np.asarray(base[picks], dtype=np.float32)
    densest = int(np.argmax((sample @ sample.T > 0.6).sum(axis=1)))
    others = rng.choice(len(base), size=count - 1, replace=False)
    return [sample[densest]] + [np.asarray(base[i], dtype=np.float32) for i in others]


def measure(
    fns: dict[str, Callable[[np.ndarray], np.ndarray]], queries: np.ndarray, expected: np.ndarray
) -> dict[str, dict[str, float]]:
    """Per path: recall@K against `expected`, and median wall and CPU milliseconds a query.

    The paths take turns on each query, so load from other processes falls on all of them
    alike; CPU time (this process, every thread) is what the ratios use, as it is much less
    inflated than wall time on a busy machine.
    """
    found = {name: np.full((len(queries), K), -1, dtype=np.int64) for name in fns}
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    for i, q in enumerate(queries):
        for name, fn in fns.items():
            c0, w0 = time.process_time(), time.perf_counter()
            ids = fn(q)
            wall[name].append((time.perf_counter() - w0) * 1000)
            cpu[name].append((time.process_time() - c0) * 1000)
            found[name][i, : len(ids)] = ids[:K]
    return {
        name: {
            "recall": recall_at_k(found[name], expected),
            "wall_ms": statistics.median(wall[name]),
            "cpu_ms": statistics.median(cpu[name]),
        }
        for name in fns
    }


def run(args: argparse.Namespace, root: Path, cache: Path | None) -> dict[str, Any]:
    data = catalog.vectors(cache, args.n, args.dim)
    base = data[: args.n]
    near = np.array(data[args.n : args.n + args.queries], dtype=np.float32)
    queries = np.ascontiguousarray(np.concatenate([near, catalog.far_queries(near, seed=1)]))
    rng = np.random.default_rng(args.n)
    sizes = rng.permutation(args.n)
    started = time.perf_counter()
    index_cache = cache / f"index-{args.n}x{args.dim}.faiss" if cache is not None else None
    params = catalog.build_catalog(root, base, sizes, args.flat_max, index_cache)
    built_s = time.perf_counter() - started
    settings = catalog.settings_for(root, args.exact_max)
    service = SearchService(settings)
    loaded = service.loaded_index()
    model = f"{catalog.MODEL}/{catalog.PRETRAINED}"
    # Exact baseline: a flat copy of every vector (n x dim x 4 bytes: 2 GiB at 1M x 512).
    flat = faiss.IndexFlatIP(args.dim)
    for start in range(0, args.n, 100_000):
        flat.add(np.ascontiguousarray(base[start : start + 100_000], dtype=np.float32))
    keeps = [max(1, int(args.n * s)) for s in SELECTIVITIES]
    region_ranks = []
    for direction in region_directions(base, args.regions, rng):
        closeness = np.concatenate(
            [np.asarray(base[s : s + BLOCK], np.float32) @ direction for s in range(0, args.n, BLOCK)]
        )
        ranks = np.empty(args.n, dtype=np.int64)
        ranks[np.argsort(-closeness)] = np.arange(args.n)
        region_ranks.append(ranks)
    # Mask 0 keeps everything (unfiltered truth), then the random filters, then each region's.
    masks = (
        [sizes >= 0] + [sizes < keep for keep in keeps] + [r < keep for r in region_ranks for keep in keeps]
    )
    truths = truth(base, queries, masks)
    emit(
        f"n={args.n} dim={args.dim} {params.get('description')} nprobe={params.get('nprobe')}; "
        f"{len(queries)} queries ({args.queries} near, {args.queries} far); k={K}; "
        f"search_exact_max={args.exact_max}; nprobe x {FILTER_PROBE_GAIN:g}/f, every list up to "
        f"{EXHAUSTIVE_FRACTION:.0%}; catalog ready in {built_s:.0f}s; load {os.getloadavg()[0]:.1f}"
    )
    result: dict[str, Any] = {"args": vars(args), "index": params, "random": [], "index_only": []}
    with session_scope(settings) as session:
        result["unfiltered"] = measure(
            {"unfiltered": lambda q: paths.unfiltered(loaded, q)}, queries, truths[0]
        )
        emit(f"unfiltered search: recall@10 {result['unfiltered']['unfiltered']['recall']:.3f}")
        emit()
        emit(f"Random filter (`max_size`), search_exact_max = {args.exact_max}:")
        emit()
        emit(
            "| kept | images | vs search_exact_max | recall@10 production | recall@10 previous "
            "| production ÷ previous | production ÷ unfiltered | exact ÷ production | SQL ids ÷ production |"
        )
        emit("|---:|---:|---|---:|---:|---:|---:|---:|---:|")
        for j, (s, keep) in enumerate(zip(SELECTIVITIES, keeps, strict=True)):
            allowed = np.flatnonzero(masks[1 + j]).astype(np.int64) + 1
            row: dict[str, Any] = {
                "selectivity": s,
                "images": keep,
                "below_exact_max": keep <= args.exact_max,
            }
            row["sql_ids_ms"] = sql_ids(session, model, keep, allowed)
            row |= measure(
                {
                    "production": lambda q, a=allowed: paths.production(
                        session, model, loaded, q, a, args.exact_max
                    ),
                    "previous": lambda q, a=allowed: paths.previous(
                        session, model, loaded, q, a, args.exact_max
                    ),
                    "exact": lambda q, a=allowed: paths.exact(flat, q, a),
                    "unfiltered": lambda q: paths.unfiltered(loaded, q),
                },
                queries,
                truths[1 + j],
            )
            del row["unfiltered"]["recall"]  # scored against the filtered answer: meaningless
            service_check(service, session, model, loaded, queries, allowed, keep, args.exact_max)
            result["random"].append(row)
            prod, prod_wall = row["production"]["cpu_ms"], row["production"]["wall_ms"]
            emit(
                f"| {s:.1%} | {keep:,} | {'below' if row['below_exact_max'] else 'above'} "
                f"| {row['production']['recall']:.3f} | {row['previous']['recall']:.3f} "
                f"| {prod / row['previous']['cpu_ms']:.2f} | {prod / row['unfiltered']['cpu_ms']:.1f} "
                f"| {row['exact']['cpu_ms'] / prod:.2f} | {row['sql_ids_ms'] / prod_wall:.1f} |"
            )
        emit()
        emit(
            "Every filter through the index (as with search_exact_max = 0); "
            f"region: min / mean of {args.regions} directions:"
        )
        emit()
        emit(
            "| filter | kept | recall@10 index now | recall@10 index before "
            f"| recall@10 {FILTER_PROBE_GAIN:g}/f only | now ÷ before | now ÷ unfiltered |"
        )
        emit("|---|---:|---:|---:|---:|---:|---:|")
        for kind in ("random", "region"):
            for j, s in enumerate(SELECTIVITIES):
                if kind == "random":
                    cases = [1 + j]
                else:
                    cases = [1 + len(keeps) * (1 + r) + j for r in range(args.regions)]
                runs: dict[str, list[dict[str, float]]] = {
                    "now": [],
                    "before": [],
                    "ratio": [],
                    "unfiltered": [],
                }
                for c in cases:
                    allowed = np.flatnonzero(masks[c]).astype(np.int64) + 1
                    measured = measure(
                        {
                            "now": lambda q, a=allowed: paths.index_path(loaded, q, a),
                            "before": lambda q, a=allowed: paths.previous_index(loaded, q, a),
                            "ratio": lambda q, a=allowed: paths.ratio_only(loaded, q, a),
                            "unfiltered": lambda q: paths.unfiltered(loaded, q),
                        },
                        queries,
                        truths[c],
                    )
                    del measured["unfiltered"]["recall"]  # scored against the filtered answer
                    for name, values in measured.items():
                        runs[name].append(values)
                summary = {name: summarise(values) for name, values in runs.items()}
                result["index_only"].append({"filter": kind, "selectivity": s} | summary)
                now = summary["now"]["cpu_ms"]
                emit(
                    f"| {kind} | {s:.1%} | {recalls(summary['now'])} | {recalls(summary['before'])} "
                    f"| {recalls(summary['ratio'])} | {now / summary['before']['cpu_ms']:.2f} "
                    f"| {now / summary['unfiltered']['cpu_ms']:.1f} |"
                )
    dispose_engines()
    return result


def summarise(values: list[dict[str, float]]) -> dict[str, float]:
    """Recall min and mean over filters (where scored); median of the per-filter median times."""
    out = {
        "wall_ms": statistics.median(v["wall_ms"] for v in values),
        "cpu_ms": statistics.median(v["cpu_ms"] for v in values),
    }
    recall = [v["recall"] for v in values if "recall" in v]
    if recall:
        out |= {"recall_min": min(recall), "recall_mean": statistics.mean(recall)}
    return out


def recalls(summary: dict[str, float]) -> str:
    if summary["recall_min"] == summary["recall_mean"]:
        return f"{summary['recall_min']:.3f}"
    return f"{summary['recall_min']:.3f} / {summary['recall_mean']:.3f}"


def sql_ids(session: Session, model: str, keep: int, allowed: np.ndarray) -> float:
    """Median ms of selecting the filter's ids as the service does (3 runs); checks the ids."""
    ms = []
    for _ in range(3):
        start = time.perf_counter()
        stmt = select(Image.id).where(*conditions(Filters(max_size=keep - 1), [model]))
        got = np.fromiter(session.scalars(stmt), dtype=np.int64)
        ms.append((time.perf_counter() - start) * 1000)
    assert np.array_equal(np.sort(got), allowed), "the SQL filter and the benchmark's ids disagree"
    return statistics.median(ms)


def service_check(
    service: SearchService,
    session: Session,
    model: str,
    loaded: LoadedIndex,
    queries: np.ndarray,
    allowed: np.ndarray,
    keep: int,
    exact_max: int,
) -> None:
    """`SearchService.search` returns what the production path returns, on the first queries."""
    for q in queries[:SERVICE_QUERIES]:
        page = service.search(
            session, Query(parts=(VectorPart(q),), filters=Filters(max_size=keep - 1), limit=K)
        )
        expected = paths.production(session, model, loaded, q, allowed, exact_max)
        assert [h.id for h in page.hits] == expected.tolist(), "SearchService and the production path differ"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=50, help="near queries; as many far ones are added")
    parser.add_argument("--regions", type=int, default=4, help="directions for the region filters")
    parser.add_argument("--exact-max", type=int, default=5_000, help="search_exact_max (the default setting)")
    parser.add_argument("--flat-max", type=int, default=50_000, help="index_flat_max (the default setting)")
    parser.add_argument("--smoke", action="store_true", help="20k x 64, 10 queries, in a temp dir: seconds")
    args = parser.parse_args(argv)
    if args.smoke:
        args.n, args.dim, args.queries, args.regions, args.exact_max, args.flat_max = (
            20_000,
            64,
            10,
            2,
            50,
            1_000,
        )
    described = machine()
    emit(
        f"machine: {described['cpu']}, {described['cores']} cores, {described['memory_gib']} GiB; "
        f"flags {' '.join(cpu_flags())}; faiss {faiss.__version__} ({faiss.get_compile_options().strip()}); "
        f"load {os.getloadavg()[0]:.1f}; {described['date']}"
    )
    if args.smoke:
        with tempfile.TemporaryDirectory(prefix="pixseek-bench-filters-") as tmp:
            return run(args, Path(tmp), None)
    cache = OUT / "search_filters"
    cache.mkdir(parents=True, exist_ok=True)
    result = run(args, cache / f"catalog-{args.n}x{args.dim}", cache)
    result["machine"] = described | {"flags": cpu_flags(), "load_end": os.getloadavg()}
    emit(f"raw results: {write_json('search_filters.json', result)}")
    return result


if __name__ == "__main__":
    main()
