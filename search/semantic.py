"""Top-n by cosine similarity: exactly over a set of vectors, or through a FAISS index.

Plain functions over numpy arrays. Every ranking is ordered by score descending, then id
ascending, so equal scores (exact duplicates share a vector) always come out in the same
order and pages cut at the same place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import faiss
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from pixseek.core.db import in_chunks
from pixseek.index.catalog.images import ImageVector
from pixseek.index.vectors.factory import filtered_search_params
from pixseek.index.vectors.store import LoadedIndex

SCORE_CHUNK = 8192


@dataclass(frozen=True)
class Ranked:
    """Ids and cosine scores, best first; `total` counts every candidate above the threshold.

    `total_exact` is False where `total` is a lower bound (a count that stopped at its cap).
    """

    ids: np.ndarray  # int64
    scores: np.ndarray  # float32
    total: int | None = None
    total_exact: bool = True


def _unwrap(index: faiss.Index) -> faiss.Index:
    inner = faiss.downcast_index(index)
    if isinstance(inner, faiss.IndexIDMap | faiss.IndexIDMap2):
        inner = faiss.downcast_index(inner.index)
    return inner


def is_exact(index: faiss.Index) -> bool:
    """True for an index that scores every vector exactly (a flat index, maybe id-mapped)."""
    return isinstance(_unwrap(index), faiss.IndexFlat)


def order(ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Positions that sort by score descending, then id ascending."""
    return np.lexsort((ids, -scores.astype(np.float64)))


def scores_of(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Inner products in float64, rounded to float32.

    Identical rows (exact duplicates) must score identically so that ties break by id;
    float32 BLAS gives no such promise (rows in a block tail use another kernel).
    Memory: one CHUNK x dim float64 block at a time.
    """
    q = np.asarray(query, dtype=np.float64)
    out = np.empty(vectors.shape[0], dtype=np.float32)
    for start in range(0, vectors.shape[0], SCORE_CHUNK):
        out[start : start + SCORE_CHUNK] = vectors[start : start + SCORE_CHUNK].astype(np.float64) @ q
    return out


def exact_top(
    vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, n: int, min_score: float | None = None
) -> Ranked:
    """The exact top-n of `vectors` (unit rows) for a unit `query`, brute force."""
    if ids.size == 0:
        return Ranked(np.empty(0, np.int64), np.empty(0, np.float32), 0)
    scores = scores_of(vectors, query)
    if min_score is not None:
        keep = scores >= min_score
        ids, scores = ids[keep], scores[keep]
    best = order(ids, scores)[:n]
    return Ranked(ids[best], scores[best], int(ids.size))


def index_top(
    index: faiss.Index | LoadedIndex,
    query: np.ndarray,
    n: int,
    *,
    allowed: np.ndarray | None = None,
    accept: Callable[[np.ndarray], np.ndarray] | None = None,
    min_score: float | None = None,
) -> Ranked:
    """The top-n of an index, keeping only ids in `allowed` (if given) that `accept` passes.

    `allowed` goes to FAISS as an id selector, so the index itself skips other ids and a
    selective filter still fills n results; on IVF, `index.factory.filtered_search_params`
    probes more lists the fewer ids the filter keeps. `accept` drops ids after the search
    (rows that changed since the index was built); the search widens until n accepted
    results are found, the index is exhausted, or the scores fall below `min_score`.
    It also widens while the n-th score ties with the last one returned, so the
    (score, id) order is exact at the page boundary.
    """
    # A LoadedIndex searches its GPU copy when it has one and single queries on one thread.
    raw = index.index if isinstance(index, LoadedIndex) else index
    ntotal = int(raw.ntotal)
    if n <= 0 or ntotal == 0 or (allowed is not None and allowed.size == 0):
        return Ranked(np.empty(0, np.int64), np.empty(0, np.float32))
    q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
    params = None
    if allowed is not None:
        # `params` holds the selector and its bitmap, which every search below points to.
        params = filtered_search_params(raw, allowed)
    reachable = ntotal if allowed is None else min(ntotal, int(allowed.size))
    k = min(n + 16, reachable)
    while True:
        scores, ids = index.search(q, k, params=params)
        got = ids[0] >= 0
        raw_ids, raw_scores = ids[0][got].astype(np.int64), scores[0][got]
        keep = accept(raw_ids) if accept is not None and raw_ids.size else np.ones(raw_ids.size, bool)
        if min_score is not None:
            keep &= raw_scores >= min_score
        kept_ids, kept_scores = raw_ids[keep], raw_scores[keep]
        best = order(kept_ids, kept_scores)[:n]
        exhausted = raw_ids.size < k or k >= reachable
        below = min_score is not None and raw_scores.size > 0 and raw_scores[-1] < min_score
        settled = best.size == n and kept_scores[best[-1]] > raw_scores[-1]
        if exhausted or below or settled:
            return Ranked(kept_ids[best], kept_scores[best])
        k = min(k * 2, reachable)


def stored_vectors(session: Session, ids: np.ndarray, model: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The ids among `ids` that have a stored vector for `model`, and those vectors (n, dim).

    Read by primary key in chunks. Memory: n * dim * 4 bytes (callers bound n with
    `search_exact_max`), plus one chunk of blobs.
    """
    out_ids: list[np.ndarray] = []
    out_vectors: list[np.ndarray] = []
    values = [int(i) for i in ids]
    for part in in_chunks(values):
        rows = session.execute(
            select(ImageVector.image_id, ImageVector.vector).where(
                ImageVector.image_id.in_(part),
                ImageVector.model == model,
                ImageVector.dim == dim,
            )
        ).all()
        if rows:
            out_ids.append(np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))
            blob = b"".join(r[1] for r in rows)
            out_vectors.append(np.frombuffer(blob, dtype="<f4").reshape(len(rows), dim))
    if not out_ids:
        return np.empty(0, np.int64), np.empty((0, dim), np.float32)
    return np.concatenate(out_ids), np.concatenate(out_vectors).astype(np.float32, copy=False)


def vectors_by_id(session: Session, ids: list[int], model: str) -> dict[int, np.ndarray]:
    """The stored CLS vectors of these images (those that have one for `model`)."""
    out: dict[int, np.ndarray] = {}
    for part in in_chunks(ids):
        rows = session.execute(
            select(ImageVector.image_id, ImageVector.vector).where(
                ImageVector.image_id.in_(part), ImageVector.model == model
            )
        ).all()
        out.update({int(i): np.frombuffer(blob, dtype="<f4") for i, blob in rows})
    return out
