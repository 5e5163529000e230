"""Boxes land where the pattern is: crop geometry, non-square and EXIF-rotated images."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image as CatalogImage
from pixseek.index.vectors.patch_store import PatchStore
from pixseek.ingest.run import run_ingest
from pixseek.media.decode import decode_image
from pixseek.model.preprocess import Geometry, Preprocessor
from pixseek.search.regions import RegionSearchService, best_region, cells_to_box, smooth_scores
from tests.support.images import planted

CELL = (1, 2)  # (row, col) of the planted pattern in the tiny model's 4x4 grid of the crop


def test_geometry_matches_the_preprocessor() -> None:
    pre = Preprocessor(image_size=64, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    for w, h in [(64, 64), (96, 64), (64, 96), (1001, 700), (333, 1200), (5, 640)]:
        _, expected = pre(Image.new("RGB", (w, h)), (w, h))
        assert Geometry.of(w, h, 64) == expected, (w, h)


def test_cell_boxes_on_a_landscape_image_sit_inside_the_centre_crop() -> None:
    # 192x128 shown at 0.5 model px per pixel: the 64 px crop is displayed x 32..160.
    g = Geometry.of(192, 128, 64)
    assert cells_to_box(g, (4, 4), (0, 0), (0, 0), (192, 128)) == [32, 0, 64, 32]
    assert cells_to_box(g, (4, 4), (3, 3), (3, 3), (192, 128)) == [128, 96, 160, 128]
    assert cells_to_box(g, (4, 4), (0, 3), (0, 3), (192, 128)) == [32, 0, 160, 128]
    # Portrait 100x150: scale 0.64, the crop is y 25..125 (rounded outwards at fractions).
    g = Geometry.of(100, 150, 64)
    assert cells_to_box(g, (4, 4), (0, 3), (0, 3), (100, 150)) == [0, 25, 100, 125]
    assert cells_to_box(g, (4, 4), (1, 1), (2, 2), (100, 150)) == [50, 50, 75, 75]
    assert cells_to_box(g, (4, 4), (1, 2), (0, 1), (100, 150)) == [0, 50, 50, 100]


def test_smoothing_averages_only_cells_inside_the_grid() -> None:
    scores = np.zeros((4, 4), np.float32)
    scores[0, 0] = 9.0
    smoothed = smooth_scores(scores, 1)
    assert smoothed[0, 0] == pytest.approx(9.0 / 4)  # corner: 4 cells in its window
    assert smoothed[1, 1] == pytest.approx(1.0)  # 9 cells in its window
    assert smoothed[3, 3] == 0.0


def test_best_region_grows_over_connected_high_cells_only() -> None:
    scores = np.zeros((4, 4), np.float32)
    scores[1, 1], scores[1, 2], scores[3, 3] = 1.0, 0.9, 0.95  # (3, 3) is high but not connected
    cell, rows, cols = best_region(scores)
    assert cell == (1, 1) and rows == (1, 1) and cols == (1, 2)


def _exif_rotated_png(displayed: Image.Image) -> bytes:
    """Bytes whose pixels are stored rotated, with EXIF orientation 6 to show `displayed`."""
    stored = displayed.transpose(Image.Transpose.ROTATE_90)  # viewers rotate it back clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    stored.save(buf, format="PNG", exif=exif)
    return buf.getvalue()


@pytest.mark.parametrize("patch_mode", ["clearclip", "plain"])
def test_planted_pattern_is_boxed_in_cropped_and_rotated_images(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, patch_mode: str
) -> None:
    """Centre-crop patches (`PIXSEEK_REGION_COVERAGE=centre`, and catalogs from before issue 17)."""
    monkeypatch.setattr(settings, "patch_mode", patch_mode)
    monkeypatch.setattr(settings, "region_coverage", "centre")
    folder = tmp_path / "planted"
    folder.mkdir()
    row, col = CELL
    # The reference: the model's input itself (64x64, one model pixel per pixel), with the
    # pattern on exactly cell (1, 2). Its patch there is "the pattern's own embedding".
    planted((64, 64), (col * 16, row * 16), 16).save(folder / "a_reference.png")
    # Landscape 192x128: shown at 0.5, the crop starts at x=32; cell (1, 2) is x 96..128, y 32..64.
    planted((192, 128), (96, 32), 32).save(folder / "b_landscape.png")
    # Portrait 128x192 displayed, stored rotated: the crop starts at y=32; cell (1, 2) is x 64..96, y 64..96.
    displayed = planted((128, 192), (64, 64), 32)
    data = _exif_rotated_png(displayed)
    assert decode_image(data, max_pixels=10**7).image.size == (128, 192)  # the EXIF really rotates
    (folder / "c_rotated.png").write_bytes(data)
    # A decoy: the same pattern in the part a centre crop cuts off (x 0..32 of 192x128).
    planted((192, 128), (0, 32), 32).save(folder / "d_outside_crop.png")
    run_ingest(settings, str(folder))

    service = RegionSearchService(settings)
    with session_scope(settings) as session:
        ids = {r.key: r.id for r in session.query(CatalogImage).all()}
        query = PatchStore(settings.patch_dir).get(ids["a_reference.png"])
        assert query is not None
        vector = query[row, col].astype(np.float32)
        expected = {"b_landscape.png": [96, 32, 128, 64], "c_rotated.png": [64, 64, 96, 96]}
        for key, box in expected.items():
            regions = service.image_regions(session, ids[key], vector)
            assert regions.cell == CELL, key
            assert regions.box == box, key
        decoy = service.image_regions(session, ids["d_outside_crop.png"], vector)
        x0, _, _, _ = decoy.box
        assert x0 >= 32  # the model never saw x < 32, so no box may claim it
        hits = service.search_vector(session, vector, k=4)
    assert {h.key for h in hits[:3]} == {"a_reference.png", "b_landscape.png", "c_rotated.png"}
    by_key = {h.key: h for h in hits}
    assert by_key["b_landscape.png"].box == [96, 32, 128, 64]
    assert by_key["c_rotated.png"].box == [64, 64, 96, 96]


@pytest.mark.parametrize("coverage", ["tiles", "full"])
def test_patterns_at_the_edges_of_wide_pictures_are_boxed_exactly(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, coverage: str
) -> None:
    """Patches over the whole picture: a pattern where a centre crop never looks is found and boxed."""
    monkeypatch.setattr(settings, "region_coverage", coverage)
    folder = tmp_path / "wide"
    folder.mkdir()
    # The reference: one model input (64x64) with the pattern on cell (1, 0).
    planted((64, 64), (0, 16), 16).save(folder / "a_reference.png")
    # 3:1 at one model pixel per pixel: 4 x 12 cells of 16 px; the pattern on the left edge,
    # in the first tile only, with the same grey around it as the reference.
    planted((192, 64), (0, 16), 16).save(folder / "b_panorama.png")
    # The same at half scale: cells of 32 px.
    planted((384, 128), (0, 32), 32).save(folder / "c_panorama_large.png")
    run_ingest(settings, str(folder))
    service = RegionSearchService(settings)
    with session_scope(settings) as session:
        rows = {r.key: r for r in session.query(CatalogImage).all()}
        assert {(r.grid_h, r.grid_w, r.patch_layout) for k, r in rows.items() if k != "a_reference.png"} == {
            (4, 12, coverage)
        }
        query = PatchStore(settings.patch_dir).get(rows["a_reference.png"].id)
        assert query is not None
        vector = query[1, 0].astype(np.float32)
        for key, box in {"b_panorama.png": [0, 16, 16, 32], "c_panorama_large.png": [0, 32, 32, 64]}.items():
            regions = service.image_regions(session, rows[key].id, vector)
            assert regions.cell == (1, 0), key
            assert regions.box == box, key
            # No region of the picture is without patches.
            assert regions.crop == [0, 0, rows[key].width, rows[key].height], key
        hits = service.search_vector(session, vector, k=3)
    assert {h.key: h.box for h in hits}["b_panorama.png"] == [0, 16, 16, 32]
