"""2D layouts of CLS vectors for the map: PCA, or PCA to 50 dimensions then t-SNE (openTSNE).

t-SNE keeps neighbourhoods far better than a linear projection (docs/benchmarks.md, the
`bench/curate.py --map` figures) at a cost that grows with N log N; openTSNE is an optional
dependency (`pip install "pixseek[curate]"`); without it the map falls back to PCA.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import faiss
import numpy as np

log = logging.getLogger(__name__)

METHODS = ("tsne", "pca")
_SAMPLE = 100_000  # rows a PCA is trained on


def pca(vectors: np.ndarray, dim: int, seed: int = 0) -> np.ndarray:
    """`vectors` projected on their `dim` principal axes (trained on at most 100k rows)."""
    n, width = vectors.shape
    dim = max(1, min(dim, width, n - 1))  # faiss's PCA gives at most as many axes as rows
    rng = np.random.default_rng(seed)
    sample = vectors if n <= _SAMPLE else vectors[np.sort(rng.choice(n, _SAMPLE, replace=False))]
    matrix = faiss.PCAMatrix(width, dim)
    matrix.train(np.ascontiguousarray(sample, dtype=np.float32))
    return np.asarray(matrix.apply(np.ascontiguousarray(vectors, dtype=np.float32)), dtype=np.float32)


def _progress(tick: Callable[[int, int, str], None]) -> Callable[..., bool]:
    seen = [0]

    def callback(iteration: int, error: float, embedding: object) -> bool:
        seen[0] += 25
        tick(5 + min(90, seen[0] * 90 // 750), 100, "t-SNE")
        return False  # never stop early: a cancel raises from `tick`

    return callback


def tsne_available() -> bool:
    try:
        import openTSNE  # noqa: F401
    except ImportError:
        return False
    return True


def project(
    vectors: np.ndarray,
    method: str = "tsne",
    seed: int = 0,
    threads: int | None = None,
    tick: Callable[[int, int, str], None] | None = None,
) -> np.ndarray:
    """(N, 2) float32 coordinates, scaled into [0, 1] on both axes (a square aspect kept)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    n = len(vectors)
    if n < 3:
        xy = np.zeros((n, 2), dtype=np.float32)
    elif method == "tsne" and tsne_available() and n >= 10:
        from openTSNE import TSNE

        reduced = pca(vectors, 50, seed)
        # One thread below 20k points: openTSNE's threads cost more than they save there.
        jobs = threads or (1 if n < 20_000 else max(1, min(8, os.cpu_count() or 1)))
        embedding = TSNE(
            n_components=2,
            perplexity=min(30.0, (n - 1) / 3.0),
            initialization="pca",
            metric="cosine",
            n_jobs=jobs,
            random_state=seed,
            verbose=False,
            # 250 early-exaggeration and 500 normal iterations: progress 5..95 of 100.
            callbacks=None if tick is None else _progress(tick),
            callbacks_every_iters=25,
        ).fit(reduced)
        xy = np.asarray(embedding, dtype=np.float32)
    else:
        xy = pca(vectors, 2, seed)
    low, high = xy.min(axis=0), xy.max(axis=0)
    span = float(max(high - low)) or 1.0
    return ((xy - low) / span + (1.0 - (high - low) / span) / 2.0).astype(np.float32)


def neighbourhood_kept(
    vectors: np.ndarray, xy: np.ndarray, k: int = 10, sample: int = 2000, seed: int = 0
) -> float:
    """Of each sampled row's `k` nearest neighbours by cosine, the share that are among its
    `k` nearest on the map (1.0: every neighbourhood kept)."""
    n = len(vectors)
    rows = np.random.default_rng(seed).choice(n, min(sample, n), replace=False)
    high = faiss.IndexFlatIP(vectors.shape[1])
    high.add(np.ascontiguousarray(vectors, dtype=np.float32))
    _, near_high = high.search(np.ascontiguousarray(vectors[rows], dtype=np.float32), k + 1)
    low = faiss.IndexFlatL2(2)
    low.add(np.ascontiguousarray(xy, dtype=np.float32))
    _, near_low = low.search(np.ascontiguousarray(xy[rows], dtype=np.float32), k + 1)
    kept = [
        len((set(a.tolist()) - {r}) & (set(b.tolist()) - {r})) / k
        for r, a, b in zip(rows.tolist(), near_high, near_low, strict=True)
    ]
    return float(np.mean(kept))
