"""A bucket: a picture with an exact copy and edited copies, a second picture and one copy, others."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.photos import EDITS, photo, write


@pytest.fixture
def dup_bucket(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    original = photo(1, (240, 180))
    write(folder / "beach.jpg", original)
    (folder / "beach-copy.jpg").write_bytes((folder / "beach.jpg").read_bytes())
    for name in ("resized", "recompressed", "mirrored", "cropped"):
        write(folder / f"beach-{name}.jpg", EDITS[name](original))
    lake = photo(5, (240, 180))
    write(folder / "lake.jpg", lake)
    write(folder / "lake-grey.jpg", EDITS["grey"](lake))
    for seed in (20, 21, 22):
        write(folder / f"other-{seed}.jpg", photo(seed, (240, 180)))
    return folder
