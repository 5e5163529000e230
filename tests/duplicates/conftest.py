"""A bucket with one picture, its edited copies, an exact copy and unrelated pictures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.duplicates.photos import EDITS, photo, write


@pytest.fixture
def dup_bucket(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    original = photo(1, (240, 180))
    write(folder / "beach.jpg", original)
    (folder / "beach-copy.jpg").write_bytes((folder / "beach.jpg").read_bytes())
    for name in ("resized", "recompressed", "mirrored", "cropped"):
        write(folder / f"beach-{name}.jpg", EDITS[name](original))
    for seed in (20, 21, 22):
        write(folder / f"other-{seed}.jpg", photo(seed, (240, 180)))
    return folder
