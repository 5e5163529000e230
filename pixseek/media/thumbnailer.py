"""Small WebP copies of a decoded picture, for whoever shows images (the web UI)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

# Part of every thumbnail's ETag: bump it when the way thumbnails are made changes.
VERSION = 1
QUALITY = 80
METHOD = 0  # libwebp's fastest: thumbnails are made on ingest's decode threads


@dataclass(frozen=True)
class Thumb:
    size: int  # the longest side asked for
    width: int
    height: int
    data: bytes  # WebP


def make_thumbnails(image: Image.Image, sizes: Sequence[int]) -> list[Thumb]:
    """One WebP per size, longest side at most that size (never enlarged), aspect kept.

    `image` is the decoded, EXIF-oriented RGB picture; it is not changed. Each smaller size
    is resized from the next larger one, and WebP is encoded at its fastest method: on a
    decode thread this is about half the cost of the default method for the same pictures
    (docs/benchmarks.md, "Thumbnails at ingest").
    """
    thumbs = []
    source = image if image.mode == "RGB" else image.convert("RGB")
    for size in sorted(set(sizes), reverse=True):
        scale = min(1.0, size / max(image.width, image.height))
        width, height = max(1, round(image.width * scale)), max(1, round(image.height * scale))
        if (width, height) != source.size:
            source = source.resize((width, height), Image.Resampling.BICUBIC, reducing_gap=2.0)
        out = io.BytesIO()
        source.save(out, format="WEBP", quality=QUALITY, method=METHOD)
        thumbs.append(Thumb(size=size, width=width, height=height, data=out.getvalue()))
    return sorted(thumbs, key=lambda t: t.size)
