"""Copies of a photo inside a larger picture, as phones make them all day.

Each copy puts the whole photo, resized, into a larger canvas so that it covers 60-90% of
each of the canvas's sides (drawn independently), at a position drawn anywhere:

- `in_margin`: on a plain margin of one colour (a padded copy, off-centre);
- `letterboxed`: the whole width (or height) of a taller (or wider) canvas, bars of one
  colour above and below (or on both sides), off-centre: a video frame, a phone's viewer;
- `in_screenshot`: a phone screenshot: the app's dark or light background, a status bar
  with the time and icons, a title bar, a navigation bar with its buttons, drawn around
  the photo (`chrome`);
- `on_background`: pasted onto a background: the photo itself blurred to fill (a story
  post), a gradient or a texture, sometimes with a drop shadow or a white border;
- `in_collage`: one large tile of a collage, beside smaller generated tiles.

The canvas is then resized and saved as JPEG (quality 75-92). Parameters are drawn per
photo from its name, so a run is repeatable.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

Box = tuple[int, int, int, int]
Place = Callable[[Image.Image, np.random.Generator], tuple[Image.Image, Box]]


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in rng.integers(0, 256, size=3))
    return (r, g, b)


def _canvas_for(
    photo: Image.Image, rng: np.random.Generator
) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """A canvas size and the photo's box in it: 60-90% of each canvas side, anywhere."""
    share_w, share_h = rng.uniform(0.6, 0.9, size=2)
    canvas = (round(photo.width / share_w), round(photo.height / share_h))
    x = int(rng.integers(0, canvas[0] - photo.width + 1))
    y = int(rng.integers(0, canvas[1] - photo.height + 1))
    return canvas, (x, y, x + photo.width, y + photo.height)


def _fitted(photo: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The photo at the size it is shown (50-100% of its pixels per side)."""
    factor = rng.uniform(0.5, 1.0)
    size = (max(8, round(photo.width * factor)), max(8, round(photo.height * factor)))
    return photo.resize(size, Image.Resampling.LANCZOS)


def _texture(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    kind = int(rng.integers(3))
    w, h = size
    if kind == 0:  # a two-colour gradient
        a, b = np.array(_colour(rng), float), np.array(_colour(rng), float)
        t = np.linspace(0, 1, h)[:, None, None] if rng.random() < 0.5 else np.linspace(0, 1, w)[None, :, None]
        grid = a + (b - a) * t
        return Image.fromarray(np.broadcast_to(grid, (h, w, 3)).astype(np.uint8), "RGB")
    if kind == 1:  # soft noise (paper, fabric, a wall)
        small = rng.integers(0, 256, size=(max(2, h // 24), max(2, w // 24), 3), dtype=np.uint8)
        return Image.fromarray(small, "RGB").resize(size, Image.Resampling.BICUBIC)
    # a pattern of stripes or dots on a colour
    out = Image.new("RGB", size, _colour(rng))
    draw = ImageDraw.Draw(out)
    step = int(rng.integers(12, 40))
    ink = _colour(rng)
    for offset in range(-h, w, step):
        draw.line([(offset, 0), (offset + h, h)], fill=ink, width=max(1, step // 4))
    return out


def _in_margin(photo: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Box]:
    photo = _fitted(photo, rng)
    size, box = _canvas_for(photo, rng)
    shade = int(rng.integers(0, 256)) if rng.random() < 0.6 else None
    colour = (shade, shade, shade) if shade is not None else _colour(rng)
    canvas = Image.new("RGB", size, colour)
    canvas.paste(photo, box[:2])
    return canvas, box


def _letterboxed(photo: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Box]:
    photo = _fitted(photo, rng)
    share = rng.uniform(0.6, 0.9)
    colour = (0, 0, 0) if rng.random() < 0.6 else (255, 255, 255)
    if rng.random() < 0.5:  # bars above and below
        size = (photo.width, round(photo.height / share))
        at = (0, int(rng.integers(0, size[1] - photo.height + 1)))
    else:  # bars on both sides
        size = (round(photo.width / share), photo.height)
        at = (int(rng.integers(0, size[0] - photo.width + 1)), 0)
    canvas = Image.new("RGB", size, colour)
    canvas.paste(photo, at)
    return canvas, (at[0], at[1], at[0] + photo.width, at[1] + photo.height)


def chrome(canvas: Image.Image, box: tuple[int, int, int, int], rng: np.random.Generator, dark: bool) -> None:
    """A phone app's bars drawn around `box` (never over it): status, title and navigation bars."""
    w, h = canvas.size
    draw = ImageDraw.Draw(canvas)
    ink = (235, 235, 235) if dark else (25, 25, 25)
    bar = (18, 18, 18) if dark else (246, 246, 246)
    top, bottom = box[1], h - box[3]
    unit = max(6, min(top, bottom, h // 10) // 2)
    font = ImageFont.load_default(size=max(6, unit - 2))
    if top >= 2 * unit:
        draw.rectangle((0, 0, w, unit), fill=bar)
        hh, mm = int(rng.integers(0, 24)), int(rng.integers(0, 60))
        draw.text((unit, 1), f"{hh:02d}:{mm:02d}", font=font, fill=ink)
        for k in range(3):  # signal, wifi, battery
            x = w - (k + 1) * 2 * unit
            draw.rectangle((x, unit // 4, x + unit, unit - unit // 4), outline=ink)
        if top >= 3 * unit:  # a title bar with a back arrow and a title
            draw.line((unit, unit * 2, unit * 2, unit * 1.5), fill=ink, width=2)
            draw.line((unit, unit * 2, unit * 2, unit * 2.5), fill=ink, width=2)
            draw.text(
                (unit * 3, unit * 1.5),
                "Photos  IMG_" + str(int(rng.integers(1000, 9999))),
                font=font,
                fill=ink,
            )
    if bottom >= 2 * unit:
        y = h - 2 * unit
        draw.rectangle((0, y, w, h), fill=bar)
        for k, shape in enumerate(("back", "home", "recent")):
            cx = (k + 1) * w // 4
            if shape == "home":
                draw.ellipse((cx - unit // 2, y + unit // 2, cx + unit // 2, y + 3 * unit // 2), outline=ink)
            elif shape == "back":
                draw.polygon(
                    [
                        (cx - unit // 2, y + unit),
                        (cx + unit // 2, y + unit // 2),
                        (cx + unit // 2, y + 3 * unit // 2),
                    ],
                    outline=ink,
                )
            else:
                draw.rectangle(
                    (cx - unit // 2, y + unit // 2, cx + unit // 2, y + 3 * unit // 2), outline=ink
                )


def _in_screenshot(photo: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Box]:
    photo = _fitted(photo, rng)
    size, box = _canvas_for(photo, rng)
    dark = bool(rng.random() < 0.6)
    canvas = Image.new("RGB", size, (0, 0, 0) if dark else (255, 255, 255))
    canvas.paste(photo, box[:2])
    chrome(canvas, box, rng, dark)
    return canvas, box


def _on_background(photo: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Box]:
    photo = _fitted(photo, rng)
    size, box = _canvas_for(photo, rng)
    if rng.random() < 0.4:  # the photo itself, blurred, to fill (a story post)
        back = photo.resize(size, Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(size[0] / 25))
    else:
        back = _texture(size, rng)
    style = int(rng.integers(3))
    if style == 1:  # a drop shadow
        shadow = Image.new("L", size, 0)
        ImageDraw.Draw(shadow).rectangle((box[0] + 4, box[1] + 4, box[2] + 4, box[3] + 4), fill=140)
        shadow = shadow.filter(ImageFilter.GaussianBlur(4))
        back = Image.composite(Image.new("RGB", size, (0, 0, 0)), back, shadow)
    elif style == 2:  # a white border, as a printed photo
        edge = max(2, photo.width // 40)
        ImageDraw.Draw(back).rectangle(
            (box[0] - edge, box[1] - edge, box[2] + edge, box[3] + edge), fill=(250, 250, 250)
        )
    back.paste(photo, box[:2])
    return back, box


def _in_collage(photo: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Box]:
    photo = _fitted(photo, rng)
    size, box = _canvas_for(photo, rng)
    canvas = Image.new("RGB", size, (255, 255, 255) if rng.random() < 0.5 else _colour(rng))
    gap = max(2, size[0] // 100)
    # Smaller generated tiles in the free strips around the photo.
    strips = [
        (0, 0, size[0], box[1]),
        (0, box[3], size[0], size[1]),
        (0, box[1], box[0], box[3]),
        (box[2], box[1], size[0], box[3]),
    ]
    for x0, y0, x1, y1 in strips:
        if x1 - x0 < 4 * gap or y1 - y0 < 4 * gap:
            continue
        side = min(x1 - x0, y1 - y0) - 2 * gap
        along_x = (x1 - x0) >= (y1 - y0)
        pos = x0 + gap if along_x else y0 + gap
        end = x1 if along_x else y1
        while pos + side <= end - gap:
            tile = _texture((side, side), rng)
            canvas.paste(tile, (pos, y0 + gap) if along_x else (x0 + gap, pos))
            pos += side + gap
    canvas.paste(photo, box[:2])
    return canvas, box


# name -> how the photo is placed; all are saved as JPEG at a quality drawn per copy.
PLACEMENTS: dict[str, Place] = {
    "in_margin": _in_margin,
    "letterboxed": _letterboxed,
    "in_screenshot": _in_screenshot,
    "on_background": _on_background,
    "in_collage": _in_collage,
}


def place(data: bytes, name: str, seed_name: str) -> tuple[bytes, tuple[float, float, float, float]]:
    """The JPEG of a larger picture holding the photo `data` whole, placed the named way,
    and where the photo is in it: (x0, y0, x1, y1) as shares of the picture's sides."""
    rng = np.random.default_rng([zlib.crc32(seed_name.encode()), zlib.crc32(name.encode())])
    img = Image.open(io.BytesIO(data)).convert("RGB")
    out, box = PLACEMENTS[name](img, rng)
    shares = (box[0] / out.width, box[1] / out.height, box[2] / out.width, box[3] / out.height)
    if rng.random() < 0.5:  # shown or shared at another size
        factor = rng.uniform(0.6, 1.0)
        out = out.resize(
            (max(16, round(out.width * factor)), max(16, round(out.height * factor))),
            Image.Resampling.LANCZOS,
        )
    buf = io.BytesIO()
    out.save(buf, format="JPEG", quality=int(rng.integers(75, 93)))
    return buf.getvalue(), shares


def make_contained(data: bytes, name: str, seed_name: str) -> bytes:
    """The bytes of a larger picture holding the photo `data` whole, placed the named way."""
    return place(data, name, seed_name)[0]
