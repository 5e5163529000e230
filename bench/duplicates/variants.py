"""The copies the duplicates benchmark makes of each original photo, as people produce them.

Crops keep 60-100% of each side, anchored at a side or corner drawn per photo, then are
resized and recompressed (a phone edit, a screenshot); turns and flips are whole-picture
symmetries (a scan put in the wrong way up); `exact` is the same bytes. Each photo draws
its own random parameters from its name, so a run is repeatable.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

Edit = Callable[[Image.Image, np.random.Generator], Image.Image]
CORNERS = ("top left", "top right", "bottom left", "bottom right")
SIDES = ("top", "bottom", "left", "right")


def crop_at(img: Image.Image, width: float, height: float, where: str) -> Image.Image:
    """Keep `width` x `height` of the sides, anchored at a side, a corner or the centre."""
    w, h = img.size
    cw, ch = max(1, round(w * width)), max(1, round(h * height))
    left = 0 if "left" in where else w - cw if "right" in where else (w - cw) // 2
    top = 0 if "top" in where else h - ch if "bottom" in where else (h - ch) // 2
    return img.crop((left, top, left + cw, top + ch))


def _scaled(img: Image.Image, factor: float) -> Image.Image:
    size = (max(1, round(img.width * factor)), max(1, round(img.height * factor)))
    return img.resize(size, Image.Resampling.LANCZOS)


def _corner_crop(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    width, height = rng.uniform(0.6, 0.95, size=2)
    where = CORNERS[int(rng.integers(len(CORNERS)))]
    return _scaled(crop_at(img, width, height, where), rng.uniform(0.5, 0.9))


def _side_crop(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    where = SIDES[int(rng.integers(len(SIDES)))]
    kept = rng.uniform(0.6, 0.9)
    width, height = (kept, 1.0) if where in ("left", "right") else (1.0, kept)
    return _scaled(crop_at(img, width, height, where), rng.uniform(0.5, 0.9))


def _turned_crop(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    turn = (Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270)[int(rng.integers(2))]
    return _corner_crop(img, rng).transpose(turn)


def _centre_crop(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return crop_at(img, 0.85, 0.85, "centre")


def _text(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    out = img.copy()
    draw = ImageDraw.Draw(out)
    size = max(12, img.height // 12)
    font = ImageFont.load_default(size=size)
    x, y = img.width // 20, img.height - 2 * size
    draw.text(
        (x, y),
        "Holiday 2026 - pixseek",
        font=font,
        fill=(255, 255, 255),
        stroke_width=2,
        stroke_fill=(0, 0, 0),
    )
    return out


def _turn(transpose: Image.Transpose) -> Edit:
    return lambda img, rng: img.transpose(transpose)


# name -> (edit, JPEG quality of the saved file); `exact` copies the original's bytes.
TRANSFORMS: dict[str, tuple[Edit, int]] = {
    "exact": (lambda img, rng: img, 0),
    "resize50": (lambda img, rng: _scaled(img, 0.5), 90),
    "jpeg_q25": (lambda img, rng: img, 25),
    "brightness": (lambda img, rng: ImageEnhance.Brightness(img).enhance(1.3), 90),
    "grayscale": (lambda img, rng: img.convert("L").convert("RGB"), 90),
    "text": (_text, 90),
    "crop85": (_centre_crop, 90),
    "crop_corner": (_corner_crop, 75),
    "crop_side": (_side_crop, 75),
    "mirror": (lambda img, rng: ImageOps.mirror(img), 90),
    "flip": (lambda img, rng: ImageOps.flip(img), 90),
    "rot90": (_turn(Image.Transpose.ROTATE_90), 90),
    "rot180": (_turn(Image.Transpose.ROTATE_180), 90),
    "rot270": (_turn(Image.Transpose.ROTATE_270), 90),
    "rot_crop": (_turned_crop, 75),
}


def make_variant(data: bytes, name: str, seed_name: str) -> bytes:
    """The bytes of the photo `data` after the named edit (JPEG, except `exact`)."""
    edit, quality = TRANSFORMS[name]
    if name == "exact":
        return data
    rng = np.random.default_rng([zlib.crc32(seed_name.encode()), zlib.crc32(name.encode())])
    img = Image.open(io.BytesIO(data)).convert("RGB")
    buf = io.BytesIO()
    edit(img, rng).convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
