"""Photo-like test pictures (smooth shading, shapes, grain) and the edits near-duplicates go through."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageOps


def photo(seed: int, size: tuple[int, int] = (192, 144)) -> Image.Image:
    """A deterministic picture with low-frequency structure, like a photo and unlike noise."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    canvas = np.full((h, w, 3), 128.0)
    for _ in range(6):
        fx, fy = rng.uniform(-3.0, 3.0, size=2)
        wave = np.sin(2 * np.pi * (fx * x + fy * y) + rng.uniform(0, 2 * np.pi))
        canvas += wave[..., None] * rng.uniform(-40, 40, size=3)
    img = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(5):
        x0, y0 = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 20))
        box = (x0, y0, x0 + int(rng.integers(15, w // 2)), y0 + int(rng.integers(15, h // 2)))
        draw.ellipse(box, fill=tuple(int(c) for c in rng.integers(0, 256, size=3)))
    grain = rng.normal(0, 4, size=(h, w, 3))
    return Image.fromarray(np.clip(np.asarray(img) + grain, 0, 255).astype(np.uint8), "RGB")


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def crop(img: Image.Image, fraction: float) -> Image.Image:
    w, h = img.size
    cw, ch = round(w * fraction), round(h * fraction)
    left, top = (w - cw) // 2, (h - ch) // 2
    return img.crop((left, top, left + cw, top + ch))


EDITS = {
    "resized": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS),
    "recompressed": lambda im: Image.open(io.BytesIO(jpeg(im, 25))).convert("RGB"),
    "mirrored": ImageOps.mirror,
    "cropped": lambda im: crop(im, 0.85),
    "brighter": lambda im: ImageEnhance.Brightness(im).enhance(1.3),
    "grey": lambda im: im.convert("L").convert("RGB"),
}


def write(path: Path, img: Image.Image, quality: int = 92) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jpeg(img, quality))
    return path
