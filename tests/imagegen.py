"""Images the tests make themselves: distinct, deterministic, in any format or mode."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def pattern(seed: int, size: tuple[int, int] = (96, 64)) -> Image.Image:
    """An RGB picture of coloured blocks that differs clearly from other seeds."""
    rng = np.random.default_rng(seed)
    w, h = size
    blocks = rng.integers(0, 256, size=(4, 6, 3), dtype=np.uint8)
    img = Image.fromarray(blocks, "RGB").resize((w, h), Image.Resampling.NEAREST)
    return img


def encode(img: Image.Image, fmt: str = "PNG", **save_kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save_kwargs)
    return buf.getvalue()


def write_image(
    path: Path, seed: int, fmt: str = "PNG", size: tuple[int, int] = (96, 64), **kw: object
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(pattern(seed, size), fmt, **kw))
    return path


def write_images(folder: Path, n: int, *, start: int = 0, fmt: str = "PNG", ext: str = "png") -> list[Path]:
    return [write_image(folder / f"img{start + i:03d}.{ext}", start + i, fmt) for i in range(n)]
