"""Old catalogs: centre-crop patches are still searched, and `pixseek regions upgrade` makes them whole."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import faiss
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from sqlalchemy import update

from pixseek.cli import main
from pixseek.core.db import session_scope
from pixseek.core.settings import Settings, get_settings
from pixseek.index.catalog.images import Image as CatalogImage
from pixseek.index.vectors.manifest import MANIFEST_FILE, PatchManifest
from pixseek.index.vectors.patch_index import CELLS_FILE, INDEX_FILE, new_exact_index, patch_ids
from pixseek.index.vectors.patch_store import PatchStore
from pixseek.index.vectors.patch_sync import patch_index_store
from pixseek.ingest.patch_upgrade import upgrade_patches
from pixseek.ingest.run import run_ingest
from pixseek.search.regions import RegionSearchService
from tests.support.images import planted


def _pictures(folder: Path) -> None:
    """Wide pictures with the pattern at the left edge (outside any centre crop), and a reference."""
    folder.mkdir()
    planted((64, 64), (0, 16), 16).save(folder / "a_reference.png")
    for i in range(4):
        img = planted((192, 64), (0, 16), 16)
        img.paste(Image.new("RGB", (8, 8), (40 * i, 200, 90)), (100, 40))  # distinct files
        img.save(folder / f"b_wide{i}.png")


def _as_before_issue_17(settings: Settings) -> None:
    """Make the catalog and patch index look as pixseek wrote them before grids varied per image."""
    with session_scope(settings) as session:
        session.execute(update(CatalogImage).values(patch_layout=None))
    store = patch_index_store(settings)
    loaded = store.load()
    assert loaded is not None
    folder = store.generation_dir(loaded.manifest.generation)
    grid = loaded.manifest.grid
    index = new_exact_index(loaded.manifest.dim)
    patches = PatchStore(settings.patch_dir)
    for image_id in loaded.images:
        arr = patches.get(int(image_id))
        assert arr is not None and arr.shape[:2] == grid
        index.add_with_ids(
            arr.reshape(-1, arr.shape[-1]).astype(np.float32), patch_ids(np.array([image_id]), grid)
        )
    faiss.write_index(index, str(folder / INDEX_FILE))
    (folder / CELLS_FILE).unlink()
    data = json.loads((folder / MANIFEST_FILE).read_text())
    del data["cell_stride"]
    (folder / MANIFEST_FILE).write_text(json.dumps(data))


def test_old_centre_crop_catalogs_are_searched_then_upgraded(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "wide"
    _pictures(folder)
    monkeypatch.setattr(settings, "region_coverage", "centre")
    run_ingest(settings, str(folder))
    _as_before_issue_17(settings)
    assert PatchManifest.read(patch_index_store(settings).generation_dir(1) / MANIFEST_FILE).stride == 16

    with session_scope(settings) as session:
        rows = {r.key: r.id for r in session.query(CatalogImage).all()}
        reference = PatchStore(settings.patch_dir).get(rows["a_reference.png"])
        assert reference is not None
        vector = reference[1, 0].astype(np.float32)
        # Still searched: every wide image is found, its box inside the centre crop (x 64..128).
        hits = RegionSearchService(settings).search_vector(session, vector, k=5)
        assert {h.key for h in hits} == set(rows)
        assert all(h.box[0] >= 64 and h.box[2] <= 128 for h in hits if h.key != "a_reference.png")

    monkeypatch.setattr(settings, "region_coverage", "tiles")
    first = upgrade_patches(settings, limit=2, batch=1)  # interrupted after two images...
    assert (first.upgraded, first.failed, first.remaining) == (2, [], 3)
    (folder / "b_wide3.png").unlink()  # ...one file gone before the next run
    second = upgrade_patches(settings)
    assert second.upgraded == 2 and [i for i, _ in second.failed] == [rows["b_wide3.png"]]
    assert second.remaining == 1  # the unreadable one keeps its centre-crop patches

    with session_scope(settings) as session:
        layouts = {r.key: (r.patch_layout, r.grid_h, r.grid_w) for r in session.query(CatalogImage).all()}
        assert layouts["b_wide0.png"] == ("tiles", 4, 12) and layouts["a_reference.png"] == ("tiles", 4, 4)
        assert layouts["b_wide3.png"] == (None, 4, 4)
        hits = RegionSearchService(settings).search_vector(session, vector, k=5)
    by_key = {h.key: h for h in hits}
    # Upgraded pictures: the pattern at the very left edge, boxed exactly; the old one still served.
    for key in ("b_wide0.png", "b_wide1.png", "b_wide2.png"):
        assert by_key[key].box == [0, 16, 16, 32], key
    assert by_key["b_wide3.png"].box[0] >= 64
    loaded = patch_index_store(settings).load()
    assert loaded is not None and loaded.manifest.stride == 4096
    assert dict(zip(loaded.images.tolist(), loaded.cells.tolist(), strict=True))[rows["b_wide0.png"]] == 48


def test_cli_upgrade(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "wide"
    _pictures(folder)
    monkeypatch.setenv("PIXSEEK_REGION_COVERAGE", "centre")
    get_settings.cache_clear()
    assert CliRunner().invoke(main, ["ingest", str(folder)]).exit_code == 0
    refused = CliRunner().invoke(main, ["regions", "upgrade"])
    assert refused.exit_code != 0 and "PIXSEEK_REGION_COVERAGE is centre" in refused.output
    monkeypatch.setenv("PIXSEEK_REGION_COVERAGE", "tiles")
    get_settings.cache_clear()
    result = CliRunner().invoke(main, ["regions", "upgrade", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"upgraded": 5, "failed": [], "remaining": 0}
    shutil.rmtree(folder)
    again = CliRunner().invoke(main, ["regions", "upgrade", "--json"])
    assert json.loads(again.output)["upgraded"] == 0  # nothing left: nothing is read
