"""Reading back what an ingest left in SQL, FAISS and the patch store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage
from sqlalchemy import select

from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image, ImageVector
from pixseek.index.catalog.jobs import job_summary
from pixseek.index.vectors.patch_store import PatchStore
from pixseek.index.vectors.store import IndexStore, index_ids
from tests.support.images import encode, jpeg_with_orientation, pattern, with_exif, write_image


def catalog(settings: Settings) -> dict[str, Image]:
    """Every catalog row, by key (keys are unique in these tests' single bucket)."""
    with session_scope(settings) as session:
        return {row.key: row for row in session.scalars(select(Image))}


def stored_vectors(settings: Settings) -> dict[int, np.ndarray]:
    with session_scope(settings) as session:
        rows = session.execute(select(ImageVector.image_id, ImageVector.vector)).all()
    return {int(i): np.frombuffer(blob, dtype="<f4") for i, blob in rows}


def faiss_ids(settings: Settings) -> set[int]:
    loaded = IndexStore(settings.index_dir).load()
    assert loaded is not None, "no index was published"
    return {int(i) for i in index_ids(loaded.index)}


def faiss_vectors(settings: Settings) -> dict[int, np.ndarray]:
    loaded = IndexStore(settings.index_dir).load()
    assert loaded is not None
    ids = index_ids(loaded.index)
    return {int(i): loaded.index.reconstruct(int(i)) for i in ids}


def generation(settings: Settings) -> int | None:
    return IndexStore(settings.index_dir).current_generation()


def patches(settings: Settings) -> PatchStore:
    return PatchStore(settings.patch_dir)


def summary(settings: Settings, job_id: str) -> dict[str, Any]:
    with session_scope(settings) as session:
        return job_summary(session, job_id)


def bump_mtime(path: Path) -> None:
    """Make sure a rewritten file's mtime differs, even on coarse-grained filesystems."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def write_good_images(folder: Path) -> dict[str, tuple[str, tuple[int, int]]]:
    """One image of every accepted format and tricky mode; key -> (format, displayed size)."""
    good: dict[str, tuple[str, tuple[int, int]]] = {}

    def put(key: str, data: bytes, fmt: str, size: tuple[int, int]) -> None:
        path = folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        good[key] = (fmt, size)

    for i, (fmt, ext) in enumerate(
        [
            ("JPEG", "jpg"),
            ("PNG", "png"),
            ("WEBP", "webp"),
            ("GIF", "gif"),
            ("BMP", "bmp"),
            ("TIFF", "tif"),
            ("HEIF", "heic"),
            ("AVIF", "avif"),
        ]
    ):
        put(f"formats/img.{ext}", encode(pattern(10 + i), fmt), fmt, (96, 64))
    put("formats/png-named.jpg", encode(pattern(20), "PNG"), "PNG", (96, 64))
    put("formats/heic-named.jpg", encode(pattern(27), "HEIF"), "HEIF", (96, 64))
    put("formats/avif-named.png", encode(pattern(28), "AVIF"), "AVIF", (96, 64))
    put("rotated.heic", with_exif(pattern(29, (120, 60)), "HEIF", 6), "HEIF", (60, 120))
    put("rotated.avif", with_exif(pattern(30, (120, 60)), "AVIF", 6), "AVIF", (60, 120))
    put("modes/cmyk.jpg", encode(pattern(21).convert("CMYK"), "JPEG"), "JPEG", (96, 64))
    put("modes/rgba.png", encode(pattern(22).convert("RGBA"), "PNG"), "PNG", (96, 64))
    put("modes/la.png", encode(pattern(23).convert("LA"), "PNG"), "PNG", (96, 64))
    palette = pattern(24).convert("P", palette=PILImage.Palette.ADAPTIVE, colors=16)
    put("modes/palette.png", encode(palette, "PNG", transparency=0), "PNG", (96, 64))
    ramp = np.tile(np.linspace(0, 65535, 80).astype(np.uint16), (40, 1))
    put("modes/grey16.png", encode(PILImage.fromarray(ramp), "PNG"), "PNG", (80, 40))
    put("rotated.jpg", jpeg_with_orientation(pattern(25, (120, 60)), 6), "JPEG", (60, 120))
    write_image(folder / "deep/er/still.png", 26)
    good["deep/er/still.png"] = ("PNG", (96, 64))
    return good
