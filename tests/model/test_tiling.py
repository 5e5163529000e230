"""Patch cells over the whole picture: layouts, tile merging, and the encoder's two methods."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pixseek.model.encoder import Encoder
from pixseek.model.tiling import MAX_CELLS, merge_tiles, plan_layout
from tests.support.images import pattern


@pytest.mark.parametrize(
    ("size", "tiles", "max_tiles", "grid", "count"),
    [
        ((224, 224), 1, 8, (7, 7), 1),  # a square: one tile, the centre crop itself
        ((640, 480), 1, 8, (7, 9), 2),  # 4:3
        ((1920, 1080), 1, 8, (7, 12), 2),  # 16:9
        ((480, 640), 1, 8, (9, 7), 2),  # portrait
        ((3000, 1000), 1, 8, (7, 21), 4),  # 3:1
        ((4000, 3000), 2, 8, (12, 16), 6),  # finer, shrunk until its tiles fit max_tiles
        ((4000, 3000), 2, 16, (14, 19), 12),
        ((20000, 1000), 1, 4, (7, 22), 4),  # a panorama wider than 4 tiles: cells widen
    ],
)
def test_layouts_cover_the_picture_with_overlapping_tiles(
    size: tuple[int, int], tiles: int, max_tiles: int, grid: tuple[int, int], count: int
) -> None:
    layout = plan_layout(*size, image_size=224, grid=7, tiles=tiles, max_tiles=max_tiles)
    assert (layout.rows, layout.cols) == grid and len(layout.tiles) == count
    assert layout.rows * layout.cols <= MAX_CELLS
    covered = np.zeros(grid, dtype=int)
    for r, c in layout.tiles:
        assert 0 <= r <= layout.rows - 7 and 0 <= c <= layout.cols - 7
        covered[r : r + 7, c : c + 7] += 1
    assert covered.min() >= 1  # no cell without a tile


def test_merging_averages_the_tiles_that_hold_a_cell() -> None:
    layout = plan_layout(160, 64, image_size=64, grid=4, tiles=1, max_tiles=8)
    assert (layout.rows, layout.cols, layout.tiles) == (4, 10, ((0, 0), (0, 3), (0, 6)))
    rng = np.random.default_rng(0)
    tiles = rng.normal(size=(3, 4, 4, 8)).astype(np.float32)
    merged = merge_tiles(layout, tiles)
    assert merged.shape == (4, 10, 8)
    np.testing.assert_allclose(np.linalg.norm(merged, axis=-1), 1.0, rtol=1e-5)
    both = tiles[0, 2, 3] + tiles[1, 2, 0]  # column 3 lies in tiles 0 and 1
    np.testing.assert_allclose(merged[2, 3], both / np.linalg.norm(both), rtol=1e-5)
    alone = tiles[2, 1, 3]  # column 9 only in the last tile
    np.testing.assert_allclose(merged[1, 9], alone / np.linalg.norm(alone), rtol=1e-5)


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder("pixseek-tiny", "none", device="cpu", precision="fp32")


@pytest.mark.parametrize("method", ["tiles", "full"])
def test_a_square_picture_gets_the_centre_crops_patches(encoder: Encoder, method: str) -> None:
    img = pattern(5, (64, 64))
    layout = plan_layout(64, 64, image_size=64, grid=4, tiles=1, max_tiles=8)
    inputs = (
        encoder.preprocessor.tiles(img, layout)
        if method == "tiles"
        else encoder.preprocessor.whole(img, layout)
    )
    whole = encoder.encode_whole(inputs, layout, method)
    pixels, _ = encoder.preprocessor(img, (64, 64))
    centre = encoder.encode_pixels(pixels[None]).patches[0]
    np.testing.assert_allclose(whole.astype(np.float32), centre.astype(np.float32), atol=2e-3)


def test_full_pass_on_a_wide_picture_interpolates_position_embeddings(encoder: Encoder) -> None:
    img = Image.new("RGB", (192, 64), (90, 90, 90))
    img.paste(pattern(1, (16, 16)), (176, 16))
    layout = plan_layout(192, 64, image_size=64, grid=4, tiles=1, max_tiles=8)
    full = encoder.encode_whole(encoder.preprocessor.whole(img, layout), layout, "full")
    tiles = encoder.encode_whole(encoder.preprocessor.tiles(img, layout), layout, "tiles")
    assert full.shape == tiles.shape == (4, 12, encoder.dim)
    # Unit vectors; both ways, the planted patch differs most from the grey around it.
    np.testing.assert_allclose(np.linalg.norm(full.astype(np.float32), axis=-1), 1.0, atol=2e-3)
    for grid in (full, tiles):
        sims = grid.astype(np.float32) @ grid[0, 0].astype(np.float32)
        assert np.unravel_index(int(np.argmin(sims)), sims.shape) == (1, 11)
    batched = encoder.encode_whole_batch([(encoder.preprocessor.tiles(img, layout), layout)] * 2, "tiles")
    np.testing.assert_allclose(batched[1].astype(np.float32), tiles.astype(np.float32), atol=2e-3)
