"""A region of a cataloged image as a query: the box a user drew turned into one vector.

The vector is built from the image's stored patch embeddings, with no model run: each
cell's unit vector weighted by the area of the cell inside the box, summed and normalised
(docs/regions.md compares this with cropping the box and embedding the crop). The box is
in pixels of the image as displayed, the frame of every box pixseek returns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sqlalchemy.orm import Session

from pixseek.core.errors import IndexNotReady, InvalidRegion
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image, get_searchable_image
from pixseek.index.vectors.patch_store import PatchStore
from pixseek.index.vectors.patch_sync import store_image_size
from pixseek.model.cells import CellGrid
from pixseek.model.identity import ModelId
from pixseek.model.tiling import CENTRE

# A box must span at least this share of a cell along each side, where the image has
# patches: below that, the grid cannot tell the box from the cell around it.
MIN_CELL_SHARE = 0.5

Box = tuple[float, float, float, float]


def check_box(box: Sequence[float], width: int, height: int, image_id: int) -> Box:
    """The box as four floats, refused unless it has an area and lies inside the image.

    Raises:
        InvalidRegion: not four finite numbers, no area, or outside the image.
    """
    if len(box) != 4 or not all(math.isfinite(float(v)) for v in box):
        raise InvalidRegion("a box is four numbers [x0, y0, x1, y1] in pixels of the displayed image")
    x0, y0, x1, y1 = (float(v) for v in box)
    if x1 <= x0 or y1 <= y0:
        raise InvalidRegion(f"the box {_show(box)} has no area: it needs x0 < x1 and y0 < y1")
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        raise InvalidRegion(
            f"the box {_show(box)} goes outside image {image_id}, "
            f"which is {width}x{height} pixels as displayed"
        )
    return x0, y0, x1, y1


def _show(box: Sequence[float]) -> str:
    return "[" + ", ".join(f"{float(v):g}" for v in box) + "]"


def vector_from_patches(patches: np.ndarray, cells: CellGrid, box: Box, image_id: int) -> np.ndarray:
    """The unit vector of the cells under `box`, each weighted by its area inside the box.

    Args:
        patches: the image's (grid_h, grid_w, dim) unit patch embeddings.
        cells: where those cells lie on the displayed image.
        box: a checked box (`check_box`).

    Raises:
        InvalidRegion: the box misses the part of the image that has patches, or covers
            less of it than half a cell along a side.
    """
    weights = cells.overlap(box)
    cx0, cy0, cx1, cy1 = cells.covered
    x0, y0, x1, y1 = max(box[0], cx0), max(box[1], cy0), min(box[2], cx1), min(box[3], cy1)
    if weights.sum() <= 0 or x1 <= x0 or y1 <= y0:
        raise InvalidRegion(
            f"the box {_show(box)} lies outside the part of image {image_id} that has patches "
            f"({_show(cells.covered)}): draw the box there, or make patches over the whole "
            "picture with `pixseek regions upgrade`"
        )
    cell_w, cell_h = cells.cell_size
    min_w, min_h = MIN_CELL_SHARE * cell_w, MIN_CELL_SHARE * cell_h
    if x1 - x0 < min_w or y1 - y0 < min_h:
        raise InvalidRegion(
            f"the box {_show(box)} covers {x1 - x0:.0f}x{y1 - y0:.0f} pixels of image {image_id}'s patches; "
            f"its patch grid cannot express a region under {math.ceil(min_w)}x{math.ceil(min_h)} "
            "pixels (half a cell): draw a larger box"
        )
    vector = np.tensordot(weights, patches.astype(np.float32), axes=([0, 1], [0, 1])).astype(np.float32)
    norm = float(np.linalg.norm(vector))
    if norm < 1e-6:
        raise InvalidRegion(f"the patches under the box {_show(box)} cancel out; draw another box")
    result: np.ndarray = vector / norm
    return result


def image_cells(row: Image, grid: tuple[int, int], image_size: int) -> CellGrid:
    """Where the cells of an image's stored patch grid lie on the displayed image.

    Patches made over the whole picture (`tiles`, `full`) are a grid over all of it; older
    ones (`centre`, or NULL from before the column) cover the centred square only.
    """
    assert row.width and row.height
    if row.patch_layout in (None, CENTRE):
        return CellGrid.center_crop(row.width, row.height, image_size, grid)
    return CellGrid.whole(row.width, row.height, grid)


def region_vector(
    session: Session, settings: Settings, image_id: int, box: Sequence[float], image_size: int = 0
) -> np.ndarray:
    """The query vector of `box` on cataloged image `image_id`, from its stored patches.

    Args:
        image_size: the model input side the patches were cut at (0: read from the patch
            store, or from the model for stores from before it was recorded).

    Raises:
        ImageNotFound: no such searchable image.
        IndexNotReady: the image has no patches of the configured model yet.
        InvalidRegion: see `check_box` and `vector_from_patches`.
    """
    row = get_searchable_image(session, image_id)
    if row.model != ModelId.of(settings).key or not row.width or not row.height:
        raise IndexNotReady(f"image {image_id} has no stored patches for this model yet")
    patches = PatchStore(settings.patch_dir).get(image_id)
    if patches is None:
        raise IndexNotReady(f"image {image_id} has no stored patches yet")
    checked = check_box(box, row.width, row.height, image_id)
    if not image_size:
        image_size = store_image_size(settings.patch_dir)
    if not image_size:
        from pixseek.model.encoder import get_encoder  # only stores from before the size was recorded

        image_size = get_encoder(settings).image_size
    grid = (int(patches.shape[0]), int(patches.shape[1]))
    if grid != (row.grid_h, row.grid_w):
        raise IndexNotReady(f"the patches of image {image_id} are being re-embedded; try again shortly")
    cells = image_cells(row, grid, image_size)
    return vector_from_patches(patches, cells, checked, image_id)
