"""The synthetic vectors of pixseek.evaluation.synthetic, cached under bench/out/."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pixseek.evaluation.synthetic import clustered


def cached(path: Path, n: int, dim: int = 512, seed: int = 0) -> np.ndarray:
    """`clustered(n, dim)` stored as .npy at `path` and memory-mapped on later runs."""
    if path.exists():
        return np.load(path, mmap_mode="r")
    path.parent.mkdir(parents=True, exist_ok=True)
    data = clustered(n, dim, seed=seed)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, data)
    tmp.replace(path)
    return data
