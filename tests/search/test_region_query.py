"""A region of a cataloged image as a query: box checks, the weighted vector, the search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pixseek.core.db import session_scope
from pixseek.core.errors import ImageNotFound, InvalidRegion
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image as CatalogImage
from pixseek.index.vectors.patch_store import PatchStore
from pixseek.ingest.run import run_ingest
from pixseek.model.cells import CellGrid
from pixseek.search.query import Query, RegionPart
from pixseek.search.region_query import check_box, region_vector, vector_from_patches
from pixseek.search.regions import RegionSearchService
from pixseek.search.service import SearchService


def _unit(rows: int, cols: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    arr = rng.normal(size=(rows, cols, dim))
    return (arr / np.linalg.norm(arr, axis=-1, keepdims=True)).astype(np.float16)


@pytest.mark.parametrize(
    ("box", "needle"),
    [
        ([0, 0, 10], "four numbers"),
        ([0, 0, 10, float("nan")], "four numbers"),
        ([10, 0, 10, 20], "no area"),
        ([0, 20, 10, 5], "no area"),
        ([-1, 0, 10, 10], "outside image 7"),
        ([0, 0, 97, 10], "outside image 7"),
        ([0, 0, 10, 65], "outside image 7"),
    ],
)
def test_bad_boxes_are_refused_with_a_reason(box: list[float], needle: str) -> None:
    with pytest.raises(InvalidRegion, match=needle) as info:
        check_box(box, 96, 64, 7)
    assert info.value.status_code == 422


def test_a_box_on_one_cell_is_that_cells_vector() -> None:
    patches = _unit(4, 4, 8)
    cells = CellGrid.whole(64, 64, (4, 4))  # 16-pixel cells
    vector = vector_from_patches(patches, cells, (16.0, 32.0, 32.0, 48.0), 1)
    np.testing.assert_allclose(vector, patches[2, 1].astype(np.float32), atol=1e-3)


def test_cells_count_by_their_area_inside_the_box() -> None:
    patches = _unit(4, 4, 8, seed=1)
    cells = CellGrid.whole(64, 64, (4, 4))
    # x 8..32 covers half of column 0 and all of column 1; y 0..16 is row 0.
    vector = vector_from_patches(patches, cells, (8.0, 0.0, 32.0, 16.0), 1)
    expected = 0.5 * patches[0, 0].astype(np.float64) + patches[0, 1].astype(np.float64)
    np.testing.assert_allclose(vector, expected / np.linalg.norm(expected), atol=1e-3)


def test_boxes_outside_the_patches_or_under_half_a_cell_are_refused() -> None:
    patches = _unit(4, 4, 8)
    # A 192x128 image: the centre crop (and its patches) spans x 32..160, cells 32 px.
    cells = CellGrid.center_crop(192, 128, 64, (4, 4))
    with pytest.raises(
        InvalidRegion, match=r"outside the part of image 3 that has patches \(\[32, 0, 160, 128\]\)"
    ):
        vector_from_patches(patches, cells, (0.0, 0.0, 30.0, 60.0), 3)
    with pytest.raises(InvalidRegion, match="under 16x16 pixels"):
        vector_from_patches(patches, cells, (40.0, 40.0, 50.0, 80.0), 3)
    # Only 10 px of a box reaching into the crop has patches: too little, though the box is large.
    with pytest.raises(InvalidRegion, match="covers 10x60 pixels"):
        vector_from_patches(patches, cells, (0.0, 0.0, 42.0, 60.0), 3)
    assert vector_from_patches(patches, cells, (40.0, 40.0, 56.0, 56.0), 3).shape == (8,)


@pytest.fixture
def ingested(settings: Settings, bucket: Path) -> dict[str, int]:
    run_ingest(settings, str(bucket))
    with session_scope(settings) as session:
        return {row.key: row.id for row in session.query(CatalogImage).all()}


def test_region_vector_of_a_cell_box_is_the_stored_patch(
    settings: Settings, ingested: dict[str, int]
) -> None:
    image_id = ingested["img002.png"]
    stored = PatchStore(settings.patch_dir).get(image_id)
    assert stored is not None and stored.shape[:2] == (4, 6)
    # 96x64 images covered whole by 4 x 6 cells of 16 pixels: cell (1, 3) is x 48..64, y 16..32.
    with session_scope(settings) as session:
        vector = region_vector(session, settings, image_id, [48, 16, 64, 32])
        with pytest.raises(ImageNotFound):
            region_vector(session, settings, 999, [0, 0, 14, 64])
    expected = stored[1, 3].astype(np.float32)
    np.testing.assert_allclose(vector, expected / np.linalg.norm(expected), atol=1e-4)


def test_centre_crop_patches_refuse_boxes_outside_the_crop(
    settings: Settings, bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Catalogs ingested before issue 17 (or with PIXSEEK_REGION_COVERAGE=centre)."""
    monkeypatch.setattr(settings, "region_coverage", "centre")
    run_ingest(settings, str(bucket))
    with session_scope(settings) as session:
        row = session.query(CatalogImage).filter_by(key="img002.png").one()
        assert (row.grid_h, row.grid_w, row.patch_layout) == (4, 4, "centre")
        stored = PatchStore(settings.patch_dir).get(row.id)
        assert stored is not None
        # The 64-pixel crop sits at x 16..80: cell (1, 2) is x 48..64, y 16..32.
        vector = region_vector(session, settings, row.id, [48, 16, 64, 32])
        with pytest.raises(InvalidRegion, match="outside the part"):
            region_vector(session, settings, row.id, [0, 0, 14, 64])
    expected = stored[1, 2].astype(np.float32)
    np.testing.assert_allclose(vector, expected / np.linalg.norm(expected), atol=1e-4)


def test_region_search_leaves_out_the_query_image_unless_asked(
    settings: Settings, ingested: dict[str, int]
) -> None:
    image_id = ingested["img002.png"]
    service = RegionSearchService(settings)
    with session_scope(settings) as session:
        others = service.search_region(session, image_id, [48, 16, 64, 32], k=6)
        with_self = service.search_region(session, image_id, [48, 16, 64, 32], k=6, include_query_image=True)
    assert len(others) == 5 and image_id not in {h.id for h in others}
    # The image itself matches its own region best: the very cell, at cosine 1.
    first = with_self[0]
    assert first.id == image_id and first.cell == (1, 3)
    assert first.region_score == pytest.approx(1.0, abs=1e-3)
    assert [h.id for h in with_self[1:]] == [h.id for h in others[:5]]


def test_a_region_part_in_a_composed_search(settings: Settings, ingested: dict[str, int]) -> None:
    image_id = ingested["img002.png"]
    search = SearchService(settings)
    with session_scope(settings) as session:
        page = search.search(
            session, Query(parts=(RegionPart(image_id, (48, 16, 64, 32)),), limit=6, explain=True)
        )
        kept = search.search(
            session,
            Query(parts=(RegionPart(image_id, (48, 16, 64, 32)),), limit=6, include_query_images=True),
        )
    assert len(page.hits) == 5 and image_id not in {h.id for h in page.hits}
    assert page.hits[0].parts is not None and page.hits[0].parts[0].label == f"region:{image_id}[48,16,64,32]"
    assert image_id in {h.id for h in kept.hits}
