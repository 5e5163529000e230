"""Candidate pairs from FAISS: range search over perceptual hashes, kNN over CLS vectors.

Plain functions over numpy arrays; rows are positions in the arrays given, and callers map
them to image ids. No function here forms all pairs: queries go in batches sized from the
memory budget, and past their limits the searches are approximate (multi-index hashing
for hashes, IVF over CLS vectors reduced to 64 dimensions by PCA).
"""

from __future__ import annotations

import logging
import math

import faiss
import numpy as np

from pixseek.media.perceptual_hash import DIHEDRAL, HASH_BYTES, HASH_ROWS

log = logging.getLogger(__name__)

# Multi-index hashing past the brute-force limit: the 64 bits are cut into 4 substrings of
# 16; a code within 3 bits of another equals it on at least one substring (pigeonhole), so
# looking up each substring's bucket finds it for sure; farther ones when they share one.
_SUBSTRINGS = 4
_SUBSTRING_BYTES = HASH_BYTES // _SUBSTRINGS
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


def hash_candidates(
    codes: np.ndarray,
    *,
    radius: int,
    exact_limit: int,
    batch: int,
    query_rows: np.ndarray | None = None,
    scale_radius: int | None = None,
) -> np.ndarray:
    """Row pairs where a window hash of one is within `radius` bits of a turned whole hash of the other.

    Args:
        codes: (N, CODE_ROWS, 8) uint8: each image's DIHEDRAL whole-picture hashes, then its
            window hashes (`pixseek.media.perceptual_hash`).
        radius: the `near` Hamming threshold.
        exact_limit: sets how far the search is brute force (`flat_hash_limit`); multi-index
            hashing above (every code within 3 bits for sure, farther ones when they share
            a 16-bit substring).
        batch: images queried per FAISS call.
        query_rows: only these rows are compared with everything (incremental runs);
            default every row.
        scale_radius: with multi-index hashing, pairs are kept within min(radius,
            scale_radius) bits (default `radius`): random codes within 12 bits sharing a
            substring number ~3 x 10^-5 N^2 (3 x 10^7 at 1M), each to be checked on the
            thumbnails; within 8 bits, ~1.3 x 10^-7 N^2.

    Returns:
        (P, 2) int64 unique pairs (i < j) of rows.
    """
    n = len(codes)
    if n < 2:
        return np.empty((0, 2), dtype=np.int64)
    exact = n <= flat_hash_limit(exact_limit)
    if not exact and scale_radius is not None:
        radius = min(radius, scale_radius)
    every = np.arange(n, dtype=np.int64)
    step = max(1, batch)
    rows = every if query_rows is None else np.asarray(query_rows, dtype=np.int64)
    # Every image's turned whole hashes are indexed and the windows ask: a crop's whole
    # picture is one window of its original. An incremental run asks with the new images'
    # windows (copies of a new original); it also indexes the new images' turned hashes and
    # asks with every image's windows (new copies of any original): that second search asks
    # as many questions as a full run, of a small index.
    search = _flat_pairs if exact else _substring_pairs
    parts = [search(codes, every, rows, radius, step)]
    if query_rows is not None and len(rows):
        parts.append(search(codes, rows, every, radius, step))
    pairs = unique_pairs(np.concatenate(parts))
    log.info(
        "duplicates.hash_candidates images=%d queries=%d radius=%d pairs=%d exact=%s",
        n,
        len(rows),
        radius,
        len(pairs),
        exact,
    )
    return pairs


_QUERIES = HASH_ROWS - DIHEDRAL  # window and inset hashes per image


def _window_queries(codes: np.ndarray, part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the window and inset hashes of rows `part`, (W,) the row each belongs to)."""
    if len(part) and part[-1] - part[0] + 1 == len(part) and np.all(np.diff(part) == 1):
        # A slice reads a memmap in order.
        block = codes[int(part[0]) : int(part[-1]) + 1, DIHEDRAL:HASH_ROWS]
    else:
        block = codes[part, DIHEDRAL:HASH_ROWS]
    windows = np.ascontiguousarray(block).reshape(len(part) * _QUERIES, HASH_BYTES)
    return windows, np.repeat(part, _QUERIES)


def _rotated_words(codes: np.ndarray, t: int) -> np.ndarray:
    """(K, 8) uint8 codes as (K,) uint64 words, bytes rotated so that substring t comes first."""
    words = np.ascontiguousarray(codes).view("<u8").reshape(-1)
    if t == 0:
        return words
    shift = np.uint64(8 * _SUBSTRING_BYTES * t)
    return (words >> shift) | (words << (np.uint64(64) - shift))


def _flat_pairs(
    codes: np.ndarray, indexed: np.ndarray, asking: np.ndarray, radius: int, step: int
) -> np.ndarray:
    """Brute force: the turned hashes of rows `indexed` asked with the windows of rows `asking`."""
    index = faiss.IndexBinaryFlat(8 * HASH_BYTES)
    index.add(np.ascontiguousarray(codes[indexed, :DIHEDRAL].reshape(-1, HASH_BYTES)))
    owner = np.repeat(indexed, DIHEDRAL)
    parts = [np.empty((0, 2), dtype=np.int64)]
    for start in range(0, len(asking), step):
        windows, query_owner = _window_queries(codes, asking[start : start + step])
        # FAISS keeps results of distance < radius, so ask for one more than the inclusive bound.
        lims, _dist, labels = index.range_search(np.ascontiguousarray(windows), radius + 1)
        parts.append(unique_pairs(_pairs_from_range(lims, labels, query_owner, owner)))
    return unique_pairs(np.concatenate(parts))


def _substring_pairs(
    codes: np.ndarray, indexed: np.ndarray, asking: np.ndarray, radius: int, step: int
) -> np.ndarray:
    """Multi-index hashing of the turned hashes of rows `indexed`, asked with the windows of `asking`.

    One table per 16-bit substring, built and asked in turn, so that only one is in memory
    (8 codes and ids per image: 128 MB at 1M). A table is FAISS's `IndexBinaryHash` keyed
    on a code's first 16 bits; table t gets every code with its bytes rotated by 2t, which
    keys it on substring t and leaves Hamming distances unchanged.
    """
    owner = np.repeat(indexed, DIHEDRAL)
    parts = [np.empty((0, 2), dtype=np.int64)]
    bucket = np.uint64((1 << (8 * _SUBSTRING_BYTES)) - 1)
    for t in range(_SUBSTRINGS):
        table = faiss.IndexBinaryHash(8 * HASH_BYTES, 8 * _SUBSTRING_BYTES)
        for start in range(0, len(indexed), step):
            turned = codes[indexed[start : start + step], :DIHEDRAL].reshape(-1, HASH_BYTES)
            table.add(_rotated_words(turned, t).view(np.uint8).reshape(-1, HASH_BYTES))
        for start in range(0, len(asking), step):
            windows, query_owner = _window_queries(codes, asking[start : start + step])
            words = _rotated_words(windows, t)
            # Asked in bucket order, each bucket is scanned by all its queries while it is in
            # cache: 3-4x faster than in image order at 1M.
            order = np.argsort((words & bucket).astype(np.uint16), kind="stable")
            queries = words[order].view(np.uint8).reshape(-1, HASH_BYTES)
            lims, _dist, labels = table.range_search(queries, radius + 1)
            parts.append(unique_pairs(_pairs_from_range(lims, labels, query_owner[order], owner)))
        del table
    return unique_pairs(np.concatenate(parts))


def flat_hash_limit(exact_limit: int) -> int:
    """Images up to which the hash search is brute force.

    Each image asks with its WINDOWS codes against every image's DIHEDRAL codes: a brute force
    over n images costs 1,416 n^2 Hamming comparisons. It runs while that is at most
    `_FLAT_BUDGET` x exact_limit^2: 3,758 images at the default 20,000 (2 x 10^10
    comparisons, about 20 s on one core).
    """
    return int(exact_limit * math.sqrt(_FLAT_BUDGET / (_QUERIES * DIHEDRAL)))


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
