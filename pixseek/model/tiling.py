"""Patch cells over the whole picture, not just its centred square (docs/regions.md).

The image is resized so that its shorter side is `tiles * g` patch cells (`g` cells per
side of the model's input, 7 for ViT-B/32 at 224 px) and its longer side keeps the aspect
ratio, rounded to whole cells. That grid of cells covers every pixel. Two ways compute it:

- `tiles`: square tiles of the model's input size laid over the resized picture, on cell
  boundaries, overlapping by at least a quarter of a tile; each cell's embedding is the
  mean of the tiles that contain it (then normalised). Every tile is an ordinary input,
  so the model sees what it was trained on.
- `full`: one pass over the whole resized picture with the position embeddings
  interpolated to its grid (`pixseek.model.patch_tokens`). Fewer tokens than overlapping
  tiles, but inputs of shapes the model never saw.

`max_tiles` bounds the work per image: the grid shrinks until its tiles fit (a panorama
far wider than `max_tiles` tiles gets cells wider than they are tall).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pixseek.core.settings import Settings

# Ids in the patch index leave this many slots per image (index/vectors/patch_index.py).
MAX_CELLS = 4096
# Tiles overlap by at least this share of their side, so no cell sits only at a tile's edge.
MIN_OVERLAP = 0.25


@dataclass(frozen=True)
class WholeLayout:
    """A (rows, cols) grid of cells over the whole image and the tiles that cover it.

    `tiles` are (row, col) offsets in cells of g x g tiles; the resized picture is
    (cols * patch, rows * patch) model pixels.
    """

    rows: int
    cols: int
    patch: int  # model pixels per cell side
    per_tile: int  # g: cells per side of one tile (the model's own grid)
    tiles: tuple[tuple[int, int], ...]

    @property
    def resized(self) -> tuple[int, int]:
        """(width, height) of the resized picture, in model pixels."""
        return self.cols * self.patch, self.rows * self.patch


def _offsets(cells: int, per_tile: int) -> list[int]:
    """Tile starts along one axis of `cells` cells: evenly spread, first at 0, last at the end."""
    if cells <= per_tile:
        return [0]
    stride = max(1, per_tile - math.ceil(MIN_OVERLAP * per_tile))
    count = math.ceil((cells - per_tile) / stride) + 1
    return sorted({round(i * (cells - per_tile) / (count - 1)) for i in range(count)})


def plan_layout(
    width: int, height: int, *, image_size: int, grid: int, tiles: int = 1, max_tiles: int = 8
) -> WholeLayout:
    """The cell grid and tiles for a `width` x `height` picture.

    Args:
        image_size: the model's input side, in pixels.
        grid: cells per side of the model's input (its patch grid).
        tiles: tiles along the shorter side: the region resolution (1: cells as large as
            the centre crop's; 2: half as large, four times as many).
        max_tiles: at most this many tiles per image.
    """
    patch = image_size // grid
    short, long = sorted((max(1, width), max(1, height)))
    aspect = long / short
    for short_cells in range(grid * max(1, tiles), grid - 1, -1):
        long_cells = max(short_cells, round(short_cells * aspect))
        if short_cells * long_cells > MAX_CELLS:
            continue
        if len(_offsets(short_cells, grid)) * len(_offsets(long_cells, grid)) <= max_tiles:
            break
    else:
        # Even one tile across the short side needs too many along the long side: keep
        # `max_tiles` tiles along it and widen the cells instead.
        short_cells = grid
        stride = grid - math.ceil(MIN_OVERLAP * grid)
        long_cells = max(grid, min(round(grid * aspect), grid + (max(1, max_tiles) - 1) * stride))
    rows, cols = (short_cells, long_cells) if height <= width else (long_cells, short_cells)
    offsets = tuple((r, c) for r in _offsets(rows, grid) for c in _offsets(cols, grid))
    return WholeLayout(rows=rows, cols=cols, patch=patch, per_tile=grid, tiles=offsets)


def merge_tiles(layout: WholeLayout, tile_patches: np.ndarray) -> np.ndarray:
    """(rows, cols, D) unit vectors: each cell the normalised mean of the tiles that hold it.

    `tile_patches` is (tiles, g, g, D), in the order of `layout.tiles`.
    """
    g = layout.per_tile
    dim = tile_patches.shape[-1]
    total = np.zeros((layout.rows, layout.cols, dim), dtype=np.float32)
    for (r, c), patches in zip(layout.tiles, tile_patches, strict=True):
        total[r : r + g, c : c + g] += patches.astype(np.float32)
    norms = np.linalg.norm(total, axis=-1, keepdims=True)
    result: np.ndarray = total / np.maximum(norms, 1e-12)
    return result


# `Coverage.method` and `Image.patch_layout` of patches cut from the centred square crop
# (a NULL patch_layout, from before the column, means the same).
CENTRE = "centre"


@dataclass(frozen=True)
class Coverage:
    """How patch cells are laid over pictures: `method` (tiles, full or centre) and resolution."""

    method: str  # "tiles", "full" or "centre"
    image_size: int  # the model's input side
    grid: int  # cells per side of the model's input
    tiles: int = 1
    max_tiles: int = 8

    @classmethod
    def of(cls, settings: Settings, image_size: int, grid: int) -> Coverage:
        """How this configuration lays patch cells over pictures, for a model of `image_size`
        and `grid` cells per side (docs/regions.md); ingest and the upload check share it."""
        return cls(
            method=settings.region_coverage,
            image_size=image_size,
            grid=grid,
            tiles=settings.region_tiles,
            max_tiles=settings.region_max_tiles,
        )

    @property
    def whole(self) -> bool:
        """True when patches cover the whole picture (tiles or full), not its centre square."""
        return self.method != CENTRE

    def layout(self, width: int, height: int) -> WholeLayout:
        return plan_layout(
            width,
            height,
            image_size=self.image_size,
            grid=self.grid,
            tiles=self.tiles,
            max_tiles=self.max_tiles,
        )
