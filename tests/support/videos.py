"""Short videos for tests, written with PyAV: slideshows of generated scenes with known cuts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy import select

from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.demo.scenes import random_layout, render
from pixseek.demo.videos import slideshow_frames, write_video
from pixseek.index.catalog.images import Image as Row
from pixseek.index.catalog.images import ImageStatus


def pictures(seed: int, n: int, size: int = 96) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [render(random_layout(rng, things=1), size) for _ in range(n)]


def slideshow(path: Path, seed: int, n: int = 3, hold: float = 1.5) -> list[float]:
    """An MP4 of `n` scenes, `hold` seconds each, cut from one to the next; the cut times."""
    frames, boundaries = slideshow_frames(pictures(seed, n), hold, 0.0, 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, frames, 8)
    return boundaries


def catalog_rows(settings: Settings) -> dict[str, Row]:
    """Every catalog row by key (detached)."""
    with session_scope(settings) as session:
        rows = session.scalars(select(Row)).all()
        session.expunge_all()
    return {row.key: row for row in rows}


def searchable_segments(settings: Settings, key: str) -> list[Row]:
    """The indexed segments of the video at `key`, in time order."""
    rows = catalog_rows(settings)
    video = rows[key]
    return sorted(
        (r for r in rows.values() if r.parent_id == video.id and r.status == ImageStatus.INDEXED),
        key=lambda r: r.start_s or 0.0,
    )
