"""Where each patch cell of an image lies on the picture as displayed, and how a box covers them.

Region search scores one embedding per cell; everything that turns cells into pixels (the
box of a hit, the heatmap, a box drawn by a user turned back into cells) goes through a
`CellGrid`: the cell edges along each axis, in pixels of the image as displayed (EXIF
orientation applied, the frame of the catalog's width and height).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pixseek.model.preprocess import Geometry


@dataclass(frozen=True)
class CellGrid:
    """Cell edges of a (grid_h, grid_w) patch grid: `xs` (grid_w + 1) and `ys` (grid_h + 1)."""

    xs: np.ndarray
    ys: np.ndarray
    width: int  # the displayed image
    height: int

    @classmethod
    def center_crop(cls, width: int, height: int, image_size: int, grid: tuple[int, int]) -> CellGrid:
        """The grid of open_clip's eval transform: the centred square of the shorter side."""
        return cls.of_crop(Geometry.of(width, height, image_size), grid, width, height)

    @classmethod
    def of_crop(cls, geometry: Geometry, grid: tuple[int, int], width: int, height: int) -> CellGrid:
        """The grid over a square crop placed by `geometry` on a `width` x `height` image."""
        gh, gw = grid
        xs = geometry.left + np.arange(gw + 1, dtype=np.float64) * (geometry.size / gw)
        ys = geometry.top + np.arange(gh + 1, dtype=np.float64) * (geometry.size / gh)
        return cls(xs=xs, ys=ys, width=width, height=height)

    @classmethod
    def whole(cls, width: int, height: int, grid: tuple[int, int]) -> CellGrid:
        """A grid laid over the whole picture, every cell the same size."""
        gh, gw = grid
        xs = np.arange(gw + 1, dtype=np.float64) * (width / gw)
        ys = np.arange(gh + 1, dtype=np.float64) * (height / gh)
        return cls(xs=xs, ys=ys, width=width, height=height)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.ys) - 1, len(self.xs) - 1)

    @property
    def cell_size(self) -> tuple[float, float]:
        """(width, height) of the smallest cell, in displayed pixels."""
        return float(np.diff(self.xs).min()), float(np.diff(self.ys).min())

    def box(self, rows: tuple[int, int], cols: tuple[int, int]) -> list[int]:
        """Displayed-pixel box [x0, y0, x1, y1] over cells rows[0]..rows[1], cols[0]..cols[1].

        Rounded outwards, so the box always holds the cells' pixels, then clipped to the image.
        """
        x0, x1 = self.xs[cols[0]], self.xs[cols[1] + 1]
        y0, y1 = self.ys[rows[0]], self.ys[rows[1] + 1]
        return [
            max(0, int(np.floor(x0 + 1e-6))),
            max(0, int(np.floor(y0 + 1e-6))),
            min(self.width, int(np.ceil(x1 - 1e-6))),
            min(self.height, int(np.ceil(y1 - 1e-6))),
        ]

    @property
    def covered(self) -> list[int]:
        """The box of all cells: the part of the picture that has patches."""
        gh, gw = self.shape
        return self.box((0, gh - 1), (0, gw - 1))

    def overlap(self, box: tuple[float, float, float, float]) -> np.ndarray:
        """(grid_h, grid_w) float64: the area of each cell inside `box`, in displayed pixels²."""
        x0, y0, x1, y1 = box
        wx = np.clip(np.minimum(self.xs[1:], x1) - np.maximum(self.xs[:-1], x0), 0.0, None)
        wy = np.clip(np.minimum(self.ys[1:], y1) - np.maximum(self.ys[:-1], y0), 0.0, None)
        result: np.ndarray = wy[:, None] * wx[None, :]
        return result
