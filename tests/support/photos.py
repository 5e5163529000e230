"""Photo-like test pictures (smooth shading, shapes, grain) and the edits near-duplicates go through."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageOps


def photo(seed: int, size: tuple[int, int] = (192, 144), *, move: float = 0.0) -> Image.Image:
    """A deterministic picture with low-frequency structure, like a photo and unlike noise.

    `move` > 0 gives another shot of the same scene (a burst): the shapes moved by up to
    that share of the picture, fresh grain.
    """
    rng = np.random.default_rng(seed)
    shots = np.random.default_rng([seed, int(move * 1000)])
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
        dx, dy = (shots.uniform(-move, move, size=2) * (w, h)).astype(int) if move else (0, 0)
        box = (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)
        draw.ellipse(box, fill=tuple(int(c) for c in rng.integers(0, 256, size=3)))
    grain = (shots if move else rng).normal(0, 4, size=(h, w, 3))
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


def burst(seed: int, size: tuple[int, int] = (240, 180), *, shot: int = 1) -> Image.Image:
    """Another shot of `photo(seed, size)`'s scene, as a burst or a retake gives one: the camera
    turned by about a degree and moved by ~3% of the frame, the shapes moved by up to 5%."""
    rng = np.random.default_rng([seed, shot])
    w, h = size
    wide = photo(seed, (round(w * 1.1), round(h * 1.1)), move=0.05 * shot)
    turned = wide.rotate(float(rng.uniform(0.8, 1.5) * rng.choice([-1, 1])), Image.Resampling.BICUBIC)
    dx, dy = rng.uniform(0.02, 0.04, size=2) * (w, h) * rng.choice([-1, 1], size=2)
    left, top = (wide.width - w) / 2 + dx, (wide.height - h) / 2 + dy
    return turned.resize(size, Image.Resampling.BICUBIC, box=(left, top, left + w, top + h))


def crop_at(img: Image.Image, width: float, height: float, where: str) -> Image.Image:
    """Keep `width` x `height` of the sides, anchored at `where`: a side or corner ("top left",
    "right", ...) or "centre"."""
    w, h = img.size
    cw, ch = round(w * width), round(h * height)
    left = 0 if "left" in where else w - cw if "right" in where else (w - cw) // 2
    top = 0 if "top" in where else h - ch if "bottom" in where else (h - ch) // 2
    return img.crop((left, top, left + cw, top + ch))


def shrink(img: Image.Image, factor: float = 0.7) -> Image.Image:
    """Resized and recompressed, as a phone or a chat app passes a picture on."""
    small = img.resize((round(img.width * factor), round(img.height * factor)), Image.Resampling.LANCZOS)
    return Image.open(io.BytesIO(jpeg(small, 70))).convert("RGB")


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


def inside(
    img: Image.Image,
    canvas: tuple[int, int],
    at: tuple[int, int],
    background: tuple[int, int, int] = (0, 0, 0),
    *,
    chrome: bool = False,
) -> Image.Image:
    """`img` pasted whole at `at` on a plain canvas; with `chrome`, a phone app's status bar
    (a clock and icons), title and navigation bars drawn around it, as in a screenshot."""
    out = Image.new("RGB", canvas, background)
    out.paste(img, at)
    if chrome:
        w, h = canvas
        draw = ImageDraw.Draw(out)
        draw.rectangle((0, 0, w, 10), fill=(20, 20, 20))
        draw.text((4, 0), "09:41", fill=(240, 240, 240))
        for k in range(3):
            draw.rectangle((w - 12 * (k + 1), 2, w - 12 * k - 4, 8), outline=(240, 240, 240))
        draw.text((4, 12), "< Photos   IMG_2041", fill=(240, 240, 240))
        draw.rectangle((0, h - 16, w, h), fill=(20, 20, 20))
        for k in range(3):
            cx = (k + 1) * w // 4
            draw.ellipse((cx - 5, h - 13, cx + 5, h - 3), outline=(240, 240, 240))
    return out
