"""The patch store: one small fp16 `.npy` per image, written atomically, read in one call.

A file per image keeps writers independent (any worker on any machine can write its own
images without coordination) and makes reading one image's (grid_h, grid_w, dim) array a
single open and read. Files are grouped 1000 to a folder so no folder grows huge.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


class PatchStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, image_id: int) -> Path:
        return self.root / f"{image_id // 1000:06d}" / f"{image_id}.npy"

    def put(self, image_id: int, patches: np.ndarray) -> None:
        """Store an image's (grid_h, grid_w, dim) patch embeddings as float16."""
        if patches.ndim != 3:
            raise ValueError(f"patches must be (grid_h, grid_w, dim), got shape {patches.shape}")
        target = self.path(image_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{image_id}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, patches.astype(np.float16, copy=False), allow_pickle=False)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, image_id: int) -> np.ndarray | None:
        """The (grid_h, grid_w, dim) float16 array of an image, or None if absent."""
        try:
            return np.load(self.path(image_id), allow_pickle=False)
        except FileNotFoundError:
            return None

    def delete(self, image_id: int) -> None:
        self.path(image_id).unlink(missing_ok=True)
