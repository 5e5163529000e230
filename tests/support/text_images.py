"""Pictures with known words, drawn with a Debian font (fonts-dejavu-core), and each word's box."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")

Box = tuple[int, int, int, int]


def text_picture(
    lines: list[str],
    *,
    size: tuple[int, int] = (520, 220),
    font_px: int = 26,
    font: Path = FONT,
    seed: int = 0,
    background: str = "plain",
) -> tuple[Image.Image, list[tuple[str, Box]]]:
    """A picture with `lines` of text on a light background; the words with their true boxes."""
    rng = np.random.default_rng(seed)
    width, height = size
    if background == "noise":
        pixels = rng.normal(220, 12, size=(height, width, 3))
        img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    else:
        img = Image.new("RGB", size, tuple(int(c) for c in rng.integers(205, 250, size=3)))
    draw = ImageDraw.Draw(img)
    face = ImageFont.truetype(str(font), font_px)
    ink = tuple(int(c) for c in rng.integers(0, 70, size=3))
    words: list[tuple[str, Box]] = []
    y = 20
    for line in lines:
        x = 20
        for word in line.split():
            left, top, right, bottom = draw.textbbox((x, y), word, font=face)
            draw.text((x, y), word, font=face, fill=ink)
            words.append((word, (left, top, right, bottom)))
            x = right + face.getlength(" ")
        y += int(font_px * 1.8)
    return img, words


def iou(a: Box, b: Box) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0
