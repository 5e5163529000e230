"""The upload check embeds an upload as ingest embedded what it is compared with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image
from pixseek.index.vectors.patch_store import PatchStore
from pixseek.ingest.run import run_ingest
from pixseek.model.encoder import get_encoder
from pixseek.search.duplicates.upload import UploadEmbedding


def _wide_picture(path: Path) -> bytes:
    """A 3:1 picture with detail everywhere, so a centre grid and a whole grid differ."""
    rng = np.random.default_rng(3)
    pixels = (rng.random((64, 192, 3)) * 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(pixels).save(path)
    return path.read_bytes()


@pytest.mark.parametrize("coverage", ["centre", "tiles"])
def test_the_upload_grid_is_the_grid_ingest_stored(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, coverage: str
) -> None:
    data = _wide_picture(tmp_path / "bucket" / "wide.png")
    monkeypatch.setattr(settings, "region_coverage", coverage)
    run_ingest(settings, str(tmp_path / "bucket"))
    with session_scope(settings) as session:
        row = session.query(Image).one()
        layout, image_id = row.patch_layout, row.id
    stored = PatchStore(settings.patch_dir).get(image_id)
    assert stored is not None
    assert (layout == "tiles") == (coverage == "tiles")

    # Whatever the setting is now, the grid follows the stored one's layout.
    monkeypatch.setattr(settings, "region_coverage", "tiles" if coverage == "centre" else "centre")
    upload = UploadEmbedding(settings, get_encoder(settings), data)
    grid = upload.grid(layout)
    assert grid.shape == stored.shape
    np.testing.assert_allclose(grid.astype(np.float32), stored.astype(np.float32), atol=2e-3)
    other = upload.grid("centre" if layout == "tiles" else "tiles")
    assert other.shape != stored.shape  # 3:1: a whole-picture grid is three times as wide
