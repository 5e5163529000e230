"""Synthetic clustered unit vectors shaped like image embeddings, for benchmarks and tests.

Recall and speed measured on uniform random vectors say little about photo collections; these
have the cone, themes and series that real CLIP embeddings of photos show.
"""

from __future__ import annotations

import math

import numpy as np

# Embeddings of real photo collections are not uniform on the sphere: they sit in a cone
# (every image shares a component) and group into themes, and within a theme into series
# (the shots of one scene). The generator mirrors that: a shared direction, ~sqrt(n) theme
# centres, series of ~50 images around them, and per-image spread around the series.
SHARED_WEIGHT = 0.6
SERIES_SPREAD = 0.7
IMAGE_SPREAD = 0.5
SERIES_SIZE = 50


def clustered(n: int, dim: int = 512, *, themes: int | None = None, seed: int = 0) -> np.ndarray:
    """`n` unit float32 vectors of dimension `dim` in `themes` clusters (default ~sqrt(n)) of series."""
    rng = np.random.default_rng(seed)
    themes = themes or max(16, int(math.sqrt(n)))
    shared = rng.standard_normal(dim).astype(np.float32)
    shared /= np.linalg.norm(shared)
    centres = rng.standard_normal((themes, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    # Zipf-like theme sizes: a few big themes, many small ones.
    weights = 1.0 / np.arange(1, themes + 1)
    n_series = max(1, n // SERIES_SIZE)
    series_theme = rng.choice(themes, size=n_series, p=weights / weights.sum())
    series = centres[series_theme] + rng.standard_normal((n_series, dim)).astype(np.float32) * np.float32(
        SERIES_SPREAD / math.sqrt(dim)
    )
    assign = rng.integers(0, n_series, size=n)
    out = np.empty((n, dim), dtype=np.float32)
    step = 100_000  # fill in slices: the noise for 1M x 512 at once would be another 2 GB
    for start in range(0, n, step):
        stop = min(n, start + step)
        noise = rng.standard_normal((stop - start, dim)).astype(np.float32)
        noise *= np.float32(IMAGE_SPREAD / math.sqrt(dim))
        block = series[assign[start:stop]] + noise + np.float32(SHARED_WEIGHT) * shared
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:stop] = block
    return out
