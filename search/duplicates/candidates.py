"""Candidate pairs from FAISS: range search over perceptual hashes, kNN over CLS vectors.

Plain functions over numpy arrays; rows are positions in the arrays given, and callers map
them to image ids. No function here forms all pairs: queries go in batches sized from the
memory budget, and past `exact_limit` images the indexes are approximate (multi-index
hashing for hashes, IVF with 8-bit scalar quantisation for CLS vectors).
"""

from __future__ import annotations

import logging
import math

import faiss
import numpy as np

from pixseek.media.perceptual_hash import DIHEDRAL, HASH_BYTES, WINDOWS

log = logging.getLogger(__name__)

# Multi-index hashing: 4 tables of 16 bits, exact bucket lookups, finds every code within
# 4 - 1 = 3 bits for sure (pigeonhole), and farther ones when they share a bucket.
_MULTIHASH_TABLES = 4
_MULTIHASH_BITS = 16
_MULTIHASH_FLIP = 0
_FLAT_BUDGET = 50
# CLS search past `exact_limit`: PCA to 64 dimensions, ~2*sqrt(N) inverted lists, 8 probed;
# the neighbours found are then scored with the full vectors.
_PCA_DIM = 64
_NPROBE = 8
_TRAIN_PER_LIST = 32


def _batches(n: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(n, start + size)) for start in range(0, n, max(1, size))]


def _pairs_from_range(
    lims: np.ndarray, labels: np.ndarray, query_rows: np.ndarray, owner: np.ndarray
) -> np.ndarray:
    """Turn a range-search answer into unique (i, j) row pairs with i < j."""
    counts = np.diff(lims).astype(np.int64)
    left = np.repeat(query_rows, counts)
    right = owner[labels]
    keep = left != right
    pairs = np.stack([np.minimum(left, right), np.maximum(left, right)], axis=1)[keep]
    return pairs


def unique_pairs(pairs: np.ndarray) -> np.ndarray:
    """Distinct rows of an (P, 2) int64 array, sorted."""
    if len(pairs) == 0:
        return np.empty((0, 2), dtype=np.int64)
    return np.unique(pairs.astype(np.int64, copy=False), axis=0)


class _HashIndex:
    """Binary codes, each owned by an image row, searched by radius in batches."""

    def __init__(self, codes: np.ndarray, owner: np.ndarray, *, exact: bool) -> None:
        if exact:
            self.index: faiss.IndexBinary = faiss.IndexBinaryFlat(8 * HASH_BYTES)
        else:
            self.index = faiss.IndexBinaryMultiHash(8 * HASH_BYTES, _MULTIHASH_TABLES, _MULTIHASH_BITS)
            self.index.nflip = _MULTIHASH_FLIP
        self.index.add(np.ascontiguousarray(codes))
        self.owner = owner

    def pairs(self, queries: np.ndarray, query_owner: np.ndarray, radius: int) -> np.ndarray:
        """Owner pairs (i < j) of every query within `radius` bits of an indexed code."""
        # FAISS keeps results of distance < radius, so ask for one more than the inclusive bound.
        lims, _dist, labels = self.index.range_search(np.ascontiguousarray(queries), radius + 1)
        return unique_pairs(_pairs_from_range(lims, labels, query_owner, self.owner))


def hash_candidates(
    codes: np.ndarray,
    *,
    radius: int,
    exact_limit: int,
    batch: int,
    query_rows: np.ndarray | None = None,
) -> np.ndarray:
    """Row pairs where a window hash of one is within `radius` bits of a turned whole hash of the other.

    Args:
        codes: (N, CODE_ROWS, 8) uint8: each image's DIHEDRAL whole-picture hashes, then its
            window hashes (`pixseek.media.perceptual_hash`).
        radius: the `near` Hamming threshold.
        exact_limit: sets how far the search is brute force (`flat_hash_limit`); multi-index
            hashing above (every code within 3 bits for sure, farther ones by chance).
        batch: images queried per FAISS call.
        query_rows: only these rows are compared with everything (incremental runs);
            default every row.

    Returns:
        (P, 2) int64 unique pairs (i < j) of rows.
    """
    n = len(codes)
    if n < 2:
        return np.empty((0, 2), dtype=np.int64)
    exact = n <= flat_hash_limit(exact_limit)
    every = np.arange(n, dtype=np.int64)
    step = max(1, batch)
    rows = every if query_rows is None else np.asarray(query_rows, dtype=np.int64)
    # Every image's turned whole hashes are indexed and the windows ask: a crop's whole
    # picture is one window of its original. An incremental run asks with the new images'
    # windows (copies of a new original); it also indexes the new images' turned hashes and
    # asks with every image's windows (new copies of any original): that second search asks
    # as many questions as a full run, of a small index.
    turned = _HashIndex(
        codes[:, :DIHEDRAL].reshape(n * DIHEDRAL, HASH_BYTES), np.repeat(every, DIHEDRAL), exact=exact
    )
    parts = [_ask_with_windows(turned, codes, rows, radius, step)]
    if query_rows is not None and len(rows):
        new_turned = _HashIndex(
            codes[rows, :DIHEDRAL].reshape(len(rows) * DIHEDRAL, HASH_BYTES),
            np.repeat(rows, DIHEDRAL),
            exact=exact,
        )
        parts.append(_ask_with_windows(new_turned, codes, every, radius, step))
    pairs = unique_pairs(np.concatenate(parts)) if parts else np.empty((0, 2), dtype=np.int64)
    log.info(
        "duplicates.hash_candidates images=%d queries=%d pairs=%d exact=%s", n, len(rows), len(pairs), exact
    )
    return pairs


def _ask_with_windows(
    index: _HashIndex, codes: np.ndarray, rows: np.ndarray, radius: int, step: int
) -> np.ndarray:
    """Pairs found asking `index` with the window hashes of `rows`, `step` images at a time."""
    n_windows = len(WINDOWS)
    parts = [np.empty((0, 2), dtype=np.int64)]
    for start in range(0, len(rows), step):
        part = rows[start : start + step]
        windows = codes[part, DIHEDRAL:].reshape(len(part) * n_windows, HASH_BYTES)
        parts.append(index.pairs(windows, np.repeat(part, n_windows), radius))
    return unique_pairs(np.concatenate(parts))


def flat_hash_limit(exact_limit: int) -> int:
    """Images up to which the hash search is brute force.

    Each image asks with its WINDOWS codes against every image's DIHEDRAL codes: a brute force
    over n images costs 1,352 n^2 Hamming comparisons. It runs while that is at most
    `_FLAT_BUDGET` x exact_limit^2: 3,845 images at the default 20,000 (2 x 10^10
    comparisons, about 20 s on one core).
    """
    return int(exact_limit * math.sqrt(_FLAT_BUDGET / (len(WINDOWS) * DIHEDRAL)))


def cls_candidates(
    vectors: np.ndarray,
    *,
    k: int,
    min_score: float,
    exact_limit: int,
    batch: int,
    query_rows: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Row pairs among each image's `k` nearest CLS neighbours with cosine >= `min_score`.

    Returns:
        ((P, 2) int64 pairs with i < j, (P,) float32 cosine similarities).
    """
    n, dim = vectors.shape
    if n < 2:
        return np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=np.float32)
    rows = np.arange(n, dtype=np.int64) if query_rows is None else np.asarray(query_rows, dtype=np.int64)
    if n <= exact_limit:
        index: faiss.Index = faiss.IndexFlatIP(dim)
    else:
        # Memory: N x 64 float32 (256 MB at 1M) instead of N x dim float32 (2 GB at 512-d).
        nlist = int(2 * math.sqrt(n))
        index = faiss.index_factory(
            dim, f"PCA{min(_PCA_DIM, dim)},IVF{nlist},Flat", faiss.METRIC_INNER_PRODUCT
        )
        faiss.extract_index_ivf(index).cp.niter = 10
        rng = np.random.default_rng(seed)
        sample = vectors[np.sort(rng.choice(n, size=min(n, _TRAIN_PER_LIST * nlist), replace=False))]
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        faiss.extract_index_ivf(index).nprobe = _NPROBE
    for start, stop in _batches(n, batch):
        index.add(np.ascontiguousarray(vectors[start:stop], dtype=np.float32))
    want = min(k + 1, n)
    pair_parts: list[np.ndarray] = []
    score_parts: list[np.ndarray] = []
    for start, stop in _batches(len(rows), batch):
        part = rows[start:stop]
        queries = np.ascontiguousarray(vectors[part], dtype=np.float32)
        _approx, labels = index.search(queries, want)
        left = np.repeat(part, want)
        right = labels.ravel()
        keep = (right >= 0) & (right != left)
        left, right = left[keep], right[keep]
        # Exact cosine of each neighbour pair, from the full vectors (rows of one batch at a time).
        local = np.repeat(np.arange(len(part)), want)[keep]
        flat = np.einsum("ij,ij->i", queries[local], np.asarray(vectors[right], dtype=np.float32))
        keep = flat >= min_score
        left, right, flat = left[keep], right[keep], flat[keep]
        pair_parts.append(np.stack([np.minimum(left, right), np.maximum(left, right)], axis=1))
        score_parts.append(flat.astype(np.float32))
    if not pair_parts:
        return np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=np.float32)
    pairs = np.concatenate(pair_parts)
    scores_all = np.concatenate(score_parts)
    # The same pair may come from both sides; keep one (its best score).
    order = np.lexsort((-scores_all, pairs[:, 1], pairs[:, 0]))
    pairs, scores_all = pairs[order], scores_all[order]
    first = np.ones(len(pairs), dtype=bool)
    first[1:] = np.any(pairs[1:] != pairs[:-1], axis=1)
    log.info("duplicates.cls_candidates images=%d queries=%d pairs=%d", n, len(rows), int(first.sum()))
    return pairs[first], scores_all[first]
