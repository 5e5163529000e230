"""The edits the duplicates benchmark applies to each original photo."""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps


def _resize_half(img: Image.Image) -> Image.Image:
    return img.resize((max(1, img.width // 2), max(1, img.height // 2)), Image.Resampling.LANCZOS)


def _brightness(img: Image.Image) -> Image.Image:
    return ImageEnhance.Brightness(img).enhance(1.3)


def _centre_crop(img: Image.Image) -> Image.Image:
    w, h = img.size
    cw, ch = round(w * 0.85), round(h * 0.85)
    left, top = (w - cw) // 2, (h - ch) // 2
    return img.crop((left, top, left + cw, top + ch))


def _mirror(img: Image.Image) -> Image.Image:
    return ImageOps.mirror(img)


def _grayscale(img: Image.Image) -> Image.Image:
    return img.convert("L").convert("RGB")


def _text(img: Image.Image) -> Image.Image:
    out = img.copy()
    draw = ImageDraw.Draw(out)
    size = max(12, img.height // 12)
    font = ImageFont.load_default(size=size)
    text = "Holiday 2026 - pixseek"
    x, y = img.width // 20, img.height - 2 * size
    draw.text((x, y), text, font=font, fill=(255, 255, 255), stroke_width=2, stroke_fill=(0, 0, 0))
    return out


def _identity(img: Image.Image) -> Image.Image:
    return img


# name -> (edit, JPEG quality of the saved file)
TRANSFORMS: dict[str, tuple[Callable[[Image.Image], Image.Image], int]] = {
    "resize50": (_resize_half, 90),
    "jpeg_q25": (_identity, 25),
    "brightness": (_brightness, 90),
    "crop85": (_centre_crop, 90),
    "mirror": (_mirror, 90),
    "grayscale": (_grayscale, 90),
    "text": (_text, 90),
}


def make_variant(img: Image.Image, name: str) -> bytes:
    """The JPEG bytes of `img` after the named edit."""
    edit, quality = TRANSFORMS[name]
    buf = io.BytesIO()
    edit(img.convert("RGB")).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
