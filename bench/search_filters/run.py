"""Filtered search: exact scoring of the subset vs an id selector vs over-fetching.

Builds a catalog of N synthetic unit vectors (SQLite, through pixseek's own tables and
index writer; the index is the flat `IDMap2,Flat`), then, for a `size` filter that keeps a
given fraction of the images, times each way of finding the top-k among them and measures
recall@k against brute force:

- sql:       selecting the matching ids in SQL (every strategy needs it; shown once);
- exact:     reading the subset's stored vectors by id and scoring them in numpy;
- selector:  searching the FAISS index with an `IDSelectorBatch` of the subset;
- over-fetch: searching the unfiltered index for k' results, then dropping non-matching ids,
             with k' = ceil(2k / selectivity) (capped at N) and the naive k' = 10k;
- service:   `SearchService.search` end to end with the default settings.

Usage:
    python -m bench.search_filters.run [--n 100000] [--dim 512] [--queries 20]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from pixseek.core.db import dispose_engines, ensure_schema, session_scope
from pixseek.core.settings import Settings
from pixseek.index.catalog import Image, ImageStatus, ImageVector
from pixseek.index.writer import publish_index
from pixseek.model.identity import ModelId
from pixseek.search import semantic
from pixseek.search.filters import Filters, conditions
from pixseek.search.query import Query, VectorPart
from pixseek.search.service import SearchService

SELECTIVITIES = (0.0001, 0.001, 0.01, 0.05, 0.2, 0.5, 1.0)
K = 10
INSERT_CHUNK = 5000


def clustered(rng: np.random.Generator, n: int, dim: int, clusters: int = 1000) -> np.ndarray:
    """Unit vectors around `clusters` centres: real embeddings cluster, uniform noise does not
    (and IVF is meaningless on uniform noise)."""
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    noise = rng.standard_normal((n, dim)).astype(np.float32) * (0.6 / math.sqrt(dim))
    vectors = centres[rng.integers(0, clusters, n)] + noise
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def build_catalog(settings: Settings, n: int, dim: int, seed: int) -> np.ndarray:
    """N images whose `size` is a random permutation of 0..N-1 (so `max_size` sets selectivity)."""
    rng = np.random.default_rng(seed)
    vectors = clustered(rng, n, dim)
    sizes = rng.permutation(n)
    model = f"{settings.model}/{settings.pretrained}"
    with session_scope(settings) as session:
        for start in range(0, n, INSERT_CHUNK):
            stop = min(start + INSERT_CHUNK, n)
            session.execute(
                insert(Image),
                [
                    {
                        "id": i + 1,
                        "bucket": "/bench",
                        "key": f"img/{i:08d}.jpg",
                        "size": int(sizes[i]),
                        "sha256": f"{i:064x}",
                        "format": "JPEG",
                        "status": ImageStatus.EMBEDDED,
                        "model": model,
                    }
                    for i in range(start, stop)
                ],
            )
            session.execute(
                insert(ImageVector),
                [
                    {
                        "image_id": i + 1,
                        "model": model,
                        "dim": dim,
                        "sha256": f"{i:064x}",
                        "vector": vectors[i].tobytes(),
                    }
                    for i in range(start, stop)
                ],
            )
    publish_index(settings, ModelId.of(settings))
    return vectors


def brute_force(vectors: np.ndarray, allowed: np.ndarray, q: np.ndarray) -> list[int]:
    scores = vectors[allowed - 1].astype(np.float64) @ q
    return [int(allowed[i]) for i in np.lexsort((allowed, -scores))[:K]]


def emit(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def ivf_index(vectors: np.ndarray, nlist: int, nprobe: int) -> faiss.Index:
    """An approximate index over the same vectors (ids 1..N), as issue 7 may introduce."""
    ivf = faiss.IndexIVFFlat(
        faiss.IndexFlatIP(vectors.shape[1]), vectors.shape[1], nlist, faiss.METRIC_INNER_PRODUCT
    )
    ivf.train(vectors[:: max(1, len(vectors) // (64 * nlist))])
    ivf.nprobe = nprobe
    index = faiss.IndexIDMap2(ivf)
    index.add_with_ids(vectors, np.arange(1, len(vectors) + 1, dtype=np.int64))
    return index


@dataclass
class Row:
    times: dict[str, list[float]] = field(default_factory=dict)
    hits: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, fn: Callable[[], list[int]], truth: list[int]) -> None:
        start = time.perf_counter()
        got = fn()
        self.times.setdefault(name, []).append(time.perf_counter() - start)
        self.hits.setdefault(name, []).append(len(set(truth) & set(got)) / len(truth))

    def ms(self, name: str) -> str:
        return f"{1000 * statistics.median(self.times[name]):.1f}"

    def recall(self, name: str) -> float:
        return statistics.mean(self.hits[name])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="pixseek-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp), model="bench", pretrained="none")
        ensure_schema(settings)
        t0 = time.perf_counter()
        vectors = build_catalog(settings, args.n, args.dim, args.seed)
        model = f"{settings.model}/{settings.pretrained}"
        service = SearchService(settings)
        flat = service.loaded_index().index
        nlist = max(16, int(4 * math.sqrt(args.n)))
        ivf = ivf_index(vectors, nlist, nprobe=16)
        emit(
            f"catalog: n={args.n} dim={args.dim} (built in {time.perf_counter() - t0:.0f}s); k={K}; "
            f"median ms of {args.queries} queries; 1 FAISS thread; SQLite; IVF{nlist} nprobe=16; "
            f"search_exact_max={settings.search_exact_max}"
        )
        emit()
        emit(
            "| kept | images | sql ids | exact (stored vectors) | flat + selector | over-fetch 2k/s (recall) "
            "| over-fetch 10k (recall) | IVF + selector (recall) | service |"
        )
        emit("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        queries = clustered(np.random.default_rng(args.seed), args.queries, args.dim)
        for selectivity in SELECTIVITIES:
            keep = max(1, int(args.n * selectivity))
            filters = Filters(max_size=keep - 1)
            wide = math.ceil(2 * K / selectivity)
            row = Row()
            for q in queries:
                with session_scope(settings) as session:
                    start = time.perf_counter()
                    stmt = select(Image.id).where(*conditions(filters, model))
                    allowed = np.fromiter(session.scalars(stmt), dtype=np.int64)
                    row.times.setdefault("sql", []).append(time.perf_counter() - start)
                    truth = brute_force(vectors, np.sort(allowed), q)

                    def exact(s: Session = session, a: np.ndarray = allowed, q: np.ndarray = q) -> list[int]:
                        ids, subset = semantic.stored_vectors(s, a, model, args.dim)
                        return [int(i) for i in semantic.exact_top(subset, ids, q, K).ids]

                    def selected(index: faiss.Index, a: np.ndarray = allowed, q: np.ndarray = q) -> list[int]:
                        return [int(i) for i in semantic.index_top(index, q, K, allowed=a).ids]

                    def over(fetch: int, a: np.ndarray = allowed, q: np.ndarray = q) -> list[int]:
                        """The unfiltered top `fetch`, then the filter (what over-fetching does)."""
                        keep_ids = set(a.tolist())
                        _, found = flat.search(q.reshape(1, -1), min(fetch, args.n))
                        return [int(i) for i in found[0] if int(i) in keep_ids][:K]

                    def end_to_end(
                        s: Session = session, f: Filters = filters, q: np.ndarray = q
                    ) -> list[int]:
                        page = service.search(s, Query(parts=(VectorPart(q),), filters=f, limit=K))
                        return [h.id for h in page.hits]

                    row.add("exact", exact, truth)
                    row.add("flat", lambda: selected(flat), truth)
                    row.add("over2", lambda w=wide: over(w), truth)  # type: ignore[misc]
                    row.add("over10", lambda: over(10 * K), truth)
                    row.add("ivf", lambda: selected(ivf), truth)
                    row.add("service", end_to_end, truth)
            assert row.recall("exact") == row.recall("flat") == row.recall("service") == 1.0
            cells = [f"{selectivity:.2%}", str(keep), row.ms("sql"), row.ms("exact"), row.ms("flat")]
            cells += [f"{row.ms(name)} ({row.recall(name):.2f})" for name in ("over2", "over10", "ivf")]
            cells.append(row.ms("service"))
            emit("| " + " | ".join(cells) + " |")
        dispose_engines()


if __name__ == "__main__":
    main()
