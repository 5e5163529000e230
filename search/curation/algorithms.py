"""Curation over numpy arrays (no SQL): k-center greedy, kNN density, k-means, split assignment.

Every function takes L2-normalised float32 vectors (cosine = inner product) and returns
row numbers; `search/curation/service.py` maps rows to image ids and saves selections.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import faiss
import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

_PCA_DIM = 64
_NPROBE = 8

# Called as tick(done, total, step) every few steps: progress, and the place a cancel stops a job.
Tick = Callable[[int, int, str], None]


def quiet(done: int, total: int, step: str) -> None:
    return None


# Cosine distance under which two unit vectors count as the same picture (float32 rounding).
SAME = 1e-6


def k_center(
    vectors: np.ndarray, n: int, block: int = 65_536, tick: Tick = quiet
) -> tuple[np.ndarray, float]:
    """`n` rows chosen by farthest-point (k-center greedy) on cosine distance: the first is
    the row nearest the mean, each next one the row farthest from all chosen so far.

    Returns (rows in the order chosen, each once, fewer than `n` where fewer distinct rows
    exist; the covering radius: the largest distance from any
    row to its nearest chosen one). Memory: the vectors and one float32 per row; time:
    n passes over the vectors (n x N x dim multiply-adds).
    """
    count = len(vectors)
    n = min(n, count)
    if n <= 0:
        return np.empty(0, dtype=np.int64), 0.0
    mean = vectors.mean(axis=0)
    first = int(np.argmax(_dot(vectors, mean, block)))
    chosen = [first]
    nearest = 1.0 - _dot(vectors, vectors[first], block)
    for i in range(1, n):
        if i % 16 == 0:
            tick(i, n, "k-center greedy")
        pick = int(np.argmax(nearest))
        if nearest[pick] <= SAME:  # every row is (a copy of) a chosen one: fewer than n exist
            break
        chosen.append(pick)
        np.minimum(nearest, 1.0 - _dot(vectors, vectors[pick], block), out=nearest)
    return np.asarray(chosen, dtype=np.int64), float(nearest.max())


def refine_medoids(vectors: np.ndarray, chosen: np.ndarray, steps: int = 1) -> np.ndarray:
    """Each chosen row replaced by the row nearest the mean of the rows it covers (its cell).

    k-center greedy places its picks at the edges (it takes the farthest row each time), so
    alone it covers the bulk of a collection no better than random picks (mean distance,
    docs/benchmarks.md); one such step keeps one pick per region and moves it to the
    region's middle. Returns the rows in the order of their cells, each once: a cell that
    no row falls in keeps its pick, which another cell may have moved onto (equal vectors),
    so the result can be shorter than `chosen`.
    """
    chosen = np.asarray(chosen, dtype=np.int64)
    for _ in range(steps):
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(np.ascontiguousarray(vectors[chosen], dtype=np.float32))
        _, cell = index.search(np.ascontiguousarray(vectors, dtype=np.float32), 1)
        cell = cell[:, 0]
        # Each cell's summed vector as one sparse (cells x rows) product: no (rows x dim) temporary.
        members = csr_matrix(
            (np.ones(len(cell), dtype=np.float32), (cell, np.arange(len(cell)))),
            shape=(len(chosen), len(cell)),
        )
        means = np.asarray(members @ vectors, dtype=np.float32)
        sims = np.empty(len(vectors), dtype=np.float32)
        step = max(1024, (1 << 24) // max(len(chosen), 1))  # rows x cells floats: <= 64 MB a block
        for start in range(0, len(vectors), step):
            block = vectors[start : start + step] @ means.T
            sims[start : start + step] = block[np.arange(len(block)), cell[start : start + step]]
        # The best row of each cell: sort by (cell, -similarity), take each cell's first.
        order = np.lexsort((-sims, cell))
        first = np.ones(len(order), dtype=bool)
        first[1:] = cell[order][1:] != cell[order][:-1]
        moved = chosen.copy()
        moved[cell[order][first]] = order[first]  # a cell no row falls in keeps its pick
        if np.array_equal(moved, chosen):
            break
        chosen = moved
    _, first_at = np.unique(chosen, return_index=True)
    return chosen[np.sort(first_at)]


def _dot(vectors: np.ndarray, v: np.ndarray, block: int) -> np.ndarray:
    out = np.empty(len(vectors), dtype=np.float32)
    for start in range(0, len(vectors), block):
        out[start : start + block] = vectors[start : start + block] @ v
    return out


def coverage(vectors: np.ndarray, chosen: np.ndarray) -> float:
    """Mean cosine distance from every row to its nearest chosen row (lower covers better)."""
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors[chosen], dtype=np.float32))
    sims, _ = index.search(np.ascontiguousarray(vectors, dtype=np.float32), 1)
    return float(np.mean(1.0 - sims[:, 0]))


def knn(
    vectors: np.ndarray,
    k: int,
    *,
    exact_limit: int = 20_000,
    batch: int = 4_096,
    seed: int = 0,
    tick: Tick = quiet,
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's `k` nearest other rows: (similarities (N, k), rows (N, k); -1 where fewer).

    Exact (`IndexFlatIP`) up to `exact_limit` rows; above, PCA to 64 dimensions + IVF
    (2 sqrt(N) lists, 8 probed) as duplicate detection does, rescored with full vectors.
    """
    n, dim = vectors.shape
    want = min(k + 1, n)
    if n <= exact_limit:
        index: faiss.Index = faiss.IndexFlatIP(dim)
    else:
        nlist = int(2 * math.sqrt(n))
        index = faiss.index_factory(
            dim, f"PCA{min(_PCA_DIM, dim)},IVF{nlist},Flat", faiss.METRIC_INNER_PRODUCT
        )
        faiss.extract_index_ivf(index).cp.niter = 10
        rng = np.random.default_rng(seed)
        sample = vectors[np.sort(rng.choice(n, size=min(n, 64 * nlist), replace=False))]
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        faiss.extract_index_ivf(index).nprobe = _NPROBE
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    sims = np.full((n, k), np.nan, dtype=np.float32)
    rows = np.full((n, k), -1, dtype=np.int64)
    for start in range(0, n, batch):
        tick(start, n, "nearest neighbours")
        stop = min(n, start + batch)
        queries = np.ascontiguousarray(vectors[start:stop], dtype=np.float32)
        _, labels = index.search(queries, want)
        valid = (labels >= 0) & (labels != np.arange(start, stop)[:, None])
        # Exact cosines from the full vectors (the IVF's come from 64-d projections);
        # memory: batch x (k + 1) x dim floats (~90 MB at 4,096 x 11 x 512).
        exact = np.einsum("bwd,bd->bw", vectors[np.where(valid, labels, 0)], queries)
        exact[~valid] = -np.inf
        order = np.argsort(-exact, axis=1)[:, :k]
        best = np.take_along_axis(exact, order, axis=1)
        found = np.take_along_axis(labels, order, axis=1)
        missing = ~np.isfinite(best)
        best[missing], found[missing] = np.nan, -1
        sims[start:stop, : best.shape[1]] = best
        rows[start:stop, : found.shape[1]] = found
    return sims, rows


def density(sims: np.ndarray, nearest: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(typicality: mean cosine to the k neighbours, uniqueness: 1 - mean cosine to the
    `nearest` closest); a row with no neighbour is typical 0, unique 1."""
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a row without neighbours: all NaN
        typical = np.nan_to_num(np.nanmean(sims, axis=1), nan=0.0)
        unique = 1.0 - np.nan_to_num(np.nanmean(sims[:, :nearest], axis=1), nan=0.0)
    return typical.astype(np.float32), unique.astype(np.float32)


def kmeans(vectors: np.ndarray, k: int, *, seed: int = 0, niter: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(centroids (k, dim), each row's cluster) by spherical k-means, trained on at most 256 k rows."""
    n, dim = vectors.shape
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    sample = vectors if n <= 256 * k else vectors[np.sort(rng.choice(n, size=256 * k, replace=False))]
    km = faiss.Kmeans(
        dim, k, niter=niter, seed=seed, spherical=True, verbose=False, min_points_per_centroid=1
    )
    km.train(np.ascontiguousarray(sample, dtype=np.float32))
    _, labels = km.index.search(np.ascontiguousarray(vectors, dtype=np.float32), 1)
    assert km.centroids is not None
    return np.array(km.centroids, dtype=np.float32), labels[:, 0].astype(np.int64)


def components(n: int, pairs: np.ndarray) -> np.ndarray:
    """The connected component of each row, rows linked by `pairs` (P, 2)."""
    if len(pairs) == 0:
        return np.arange(n, dtype=np.int64)
    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def assign_splits(units: np.ndarray, ratios: list[float], seed: int = 0) -> np.ndarray:
    """The split of each row, whole units at a time (a unit never straddles two splits).

    Units are shuffled, then placed largest first, each in the split furthest below its
    share of the rows (sizes land within one unit of the ratios).
    """
    weights = np.asarray(ratios, dtype=np.float64) / float(sum(ratios))
    labels, inverse, sizes = np.unique(units, return_inverse=True, return_counts=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    order = order[np.argsort(-sizes[order], kind="stable")]
    target = weights * len(units)
    filled = np.zeros(len(weights))
    split_of_unit = np.empty(len(labels), dtype=np.int64)
    for u in order:
        s = int(np.argmax(target - filled))
        split_of_unit[u] = s
        filled[s] += sizes[u]
    return split_of_unit[inverse]


def random_splits(n: int, ratios: list[float], seed: int = 0) -> np.ndarray:
    """A split of each row drawn at random, image by image, in the given ratios."""
    weights = np.asarray(ratios, dtype=np.float64) / float(sum(ratios))
    bounds = np.round(np.cumsum(weights) * n).astype(np.int64)
    out = np.empty(n, dtype=np.int64)
    perm = np.random.default_rng(seed).permutation(n)
    start = 0
    for s, stop in enumerate(bounds):
        out[perm[start:stop]] = s
        start = stop
    return out


def leaks(pairs: np.ndarray, split: np.ndarray) -> int:
    """Pairs whose two rows fall in different splits."""
    if len(pairs) == 0:
        return 0
    return int(np.count_nonzero(split[pairs[:, 0]] != split[pairs[:, 1]]))
