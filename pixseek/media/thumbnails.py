"""Small WebP copies of a decoded picture, for whoever shows images (the web UI)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

# Part of every thumbnail's ETag: bump it when the way thumbnails are made changes.
VERSION = 1
QUALITY = 80


@dataclass(frozen=True)
class Thumb:
    size: int  # the longest side asked for
    width: int
    height: int
    data: bytes  # WebP


def make_thumbnails(image: Image.Image, sizes: Sequence[int]) -> list[Thumb]:
    """One WebP per size, longest side at most that size (never enlarged), aspect kept.

    `image` is the decoded, EXIF-oriented RGB picture; it is not changed.
    """
    thumbs = []
    for size in sorted(set(sizes)):
        scale = min(1.0, size / max(image.width, image.height))
        width, height = max(1, round(image.width * scale)), max(1, round(image.height * scale))
        small = image
        if (width, height) != image.size:
            small = image.resize((width, height), Image.Resampling.BICUBIC)
        if small.mode != "RGB":
            small = small.convert("RGB")
        out = io.BytesIO()
        small.save(out, format="WEBP", quality=QUALITY, method=4)
        thumbs.append(Thumb(size=size, width=width, height=height, data=out.getvalue()))
    return thumbs
