"""Pictures with known words, for measuring OCR: words on photographs, and documents.

Two kinds, drawn with the fonts Debian's `fonts-dejavu-core` (and any other DejaVu faces
installed) provides:

- **photos**: 1 to 3 words rendered onto a real photograph the way people caption and
  photograph things: a sign plate (a solid plate, ink of the opposite lightness), a
  caption with an outline, or plain text in light or dark ink chosen against the photo
  beneath it, with or without a shadow; 28 to 56 pixels high (one word in five smaller,
  20-27, or larger, 57-90), turned by up to 8 degrees, saved as JPEG (quality 75-92). The
  photos are those of `shared/datasets/coco-mini-train` that carry no text of their own
  (`PHOTOS_WITH_TEXT` lists the others), split by file name into a tuning half and a
  held-out half that share no photo.
- **documents**: 2-4 lines of 2-4 words, 9 to 36 pixels, dark on light (or light on dark,
  as a screenshot in dark mode), on plain or noisy paper, turned by up to 4 degrees,
  blurred a little, JPEG quality 40-90.

A word counts as read when the recognised words contain it (case-insensitive, punctuation
stripped, each true word matched at most once); every other word read is a false one
(the photos carry no text but what was drawn).
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageStat

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_NAMES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSansCondensed-Bold.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSerifCondensed.ttf",
)
# The coco-mini-train photos that show text of their own (signs, shirts, screens, stamps):
# two scene-text readers (PP-OCRv4 and PP-OCRv6, any word of two or more letters read
# with confidence >= 0.6) found some in each, and a look confirmed it for all but a few
# numbers and squiggles. They are left out, so that every word read on the others is
# either one that was drawn or a false one.
PHOTOS_WITH_TEXT = frozenset(
    {
        "000000000790.jpg",
        "000000063217.jpg",
        "000000107438.jpg",
        "000000113488.jpg",
        "000000114174.jpg",
        "000000121647.jpg",
        "000000125870.jpg",
        "000000129648.jpg",
        "000000145311.jpg",
        "000000174632.jpg",
        "000000211891.jpg",
        "000000214704.jpg",
        "000000231460.jpg",
        "000000232357.jpg",
        "000000252639.jpg",
        "000000284218.jpg",
        "000000330993.jpg",
        "000000379349.jpg",
        "000000408805.jpg",
        "000000409194.jpg",
        "000000418049.jpg",
        "000000433998.jpg",
        "000000466547.jpg",
        "000000488571.jpg",
        "000000489520.jpg",
        "000000493652.jpg",
        "000000525891.jpg",
        "000000535506.jpg",
        "000000551757.jpg",
    }
)
WORDS = [
    "harbour",
    "lighthouse",
    "receipt",
    "total",
    "invoice",
    "bakery",
    "coffee",
    "station",
    "platform",
    "museum",
    "garden",
    "street",
    "market",
    "river",
    "bridge",
    "castle",
    "ticket",
    "parking",
    "exit",
    "entrance",
    "open",
    "closed",
    "monday",
    "friday",
    "summer",
    "winter",
    "north",
    "south",
    "meeting",
    "agenda",
    "project",
    "budget",
    "report",
    "chapter",
    "page",
    "welcome",
    "library",
    "school",
    "hospital",
    "pharmacy",
    "airport",
    "gate",
    "boarding",
    "hotel",
    "taxi",
    "cinema",
    "pizza",
    "theatre",
    "beach",
    "harvest",
    "festival",
    "concert",
    "2024",
    "1999",
    "42",
    "315",
    "7",
    "EUR",
    "USD",
    "Berlin",
    "Paris",
    "London",
    "Tuesday",
    "Kitchen",
    "Office",
    "Sale",
    "Price",
    "Amount",
    "Tea",
]

Truth = list[str]


def fonts() -> list[Path]:
    found = [FONT_DIR / name for name in FONT_NAMES if (FONT_DIR / name).exists()]
    if not found:
        raise FileNotFoundError(f"no DejaVu font in {FONT_DIR} (Debian: fonts-dejavu-core)")
    return found


def text_free_photos(folder: Path) -> list[Path]:
    """The photos of a coco-mini-train folder that carry no text of their own, by name."""
    return sorted(p for p in folder.glob("*.jpg") if p.name not in PHOTOS_WITH_TEXT)


def split_halves(photos: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """(tuning, held-out): every other photo by name, so the halves share no photo."""
    ordered = sorted(photos)
    return ordered[0::2], ordered[1::2]


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _size(rng: np.random.Generator) -> int:
    roll = rng.uniform()
    if roll < 0.1:
        return int(rng.integers(20, 28))
    if roll < 0.2:
        return int(rng.integers(57, 91))
    return int(rng.integers(28, 57))


def _free_spot(
    rng: np.random.Generator,
    size: tuple[int, int],
    box: tuple[int, int],
    taken: list[tuple[int, int, int, int]],
) -> tuple[int, int] | None:
    width, height = size
    bw, bh = box
    for _ in range(40):
        if bw + 24 >= width or bh + 24 >= height:
            return None
        x, y = int(rng.integers(12, width - bw - 12)), int(rng.integers(12, height - bh - 12))
        spot = (x - 10, y - 10, x + bw + 10, y + bh + 10)
        if all(spot[2] < t[0] or spot[0] > t[2] or spot[3] < t[1] or spot[1] > t[3] for t in taken):
            taken.append(spot)
            return x, y
    return None


def scene_photo(photo: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Truth]:
    """`photo` with 1-3 words drawn on it as signs and captions are; the words drawn."""
    base = photo.convert("RGB")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    faces = fonts()
    words: Truth = []
    taken: list[tuple[int, int, int, int]] = []
    for word in rng.choice(WORDS, size=int(rng.integers(1, 4)), replace=False):
        px = _size(rng)
        font = ImageFont.truetype(str(faces[int(rng.integers(len(faces)))]), px)
        left, top, right, bottom = (int(v) for v in font.getbbox(str(word)))
        pad = max(6, px // 4)
        spot = _free_spot(rng, base.size, (right - left + 2 * pad, bottom - top + 2 * pad), taken)
        if spot is None:
            continue
        x, y = spot
        tile = Image.new("RGBA", (right - left + 2 * pad, bottom - top + 2 * pad), (0, 0, 0, 0))
        draw = ImageDraw.Draw(tile)
        origin = (pad - left, pad - top)
        style = rng.choice(["plate", "outline", "plain", "shadow"])
        beneath = ImageStat.Stat(base.crop((x, y, x + tile.width, y + tile.height)).convert("L")).mean[0]
        if style == "plate":
            plate = tuple(int(c) for c in rng.integers(0, 256, size=3))
            light = sum(plate) / 3 > 128
            draw.rounded_rectangle(
                (0, 0, tile.width - 1, tile.height - 1), radius=pad // 2, fill=(*plate, 255)
            )
            ink = (int(rng.integers(0, 60)),) * 3 if light else (int(rng.integers(215, 256)),) * 3
            draw.text(origin, str(word), font=font, fill=(*ink, 255))
        elif style == "outline":
            fill = (255, 255, 255) if rng.uniform() < 0.7 else (255, 221, 0)
            draw.text(
                origin,
                str(word),
                font=font,
                fill=(*fill, 255),
                stroke_width=max(2, px // 14),
                stroke_fill=(0, 0, 0, 255),
            )
        else:
            ink = (20, 20, 20) if beneath > 110 else (245, 245, 245)
            if style == "shadow":
                shade = (0, 0, 0, 200) if beneath <= 110 else (255, 255, 255, 200)
                offset = max(1, px // 16)
                draw.text((origin[0] + offset, origin[1] + offset), str(word), font=font, fill=shade)
            draw.text(origin, str(word), font=font, fill=(*ink, 255))
        tile = tile.rotate(float(rng.uniform(-8, 8)), resample=Image.Resampling.BICUBIC, expand=True)
        layer.alpha_composite(tile, (max(0, x - (tile.width - 2 * pad - (right - left)) // 2), y))
        words.append(str(word))
    composed = Image.alpha_composite(base.convert("RGBA"), layer).convert("RGB")
    return _jpeg(composed, int(rng.integers(75, 93))), words


def document(rng: np.random.Generator) -> tuple[Image.Image, Truth]:
    """A page or screenshot with 2-4 lines of 2-4 words; the words it shows."""
    size_px = int(rng.integers(9, 37))
    faces = fonts()
    font = ImageFont.truetype(str(faces[int(rng.integers(min(4, len(faces))))]), size_px)
    lines = [
        [str(w) for w in rng.choice(WORDS, size=int(rng.integers(2, 5)))] for _ in range(rng.integers(2, 5))
    ]
    width = int(max(font.getlength(" ".join(line)) for line in lines) + 40 + rng.integers(0, 120))
    height = int(len(lines) * size_px * 1.8 + 40 + rng.integers(0, 80))
    dark = rng.uniform() < 0.25  # a screenshot in dark mode
    if dark:
        img = Image.new("RGB", (width, height), tuple(int(c) for c in rng.integers(15, 50, size=3)))
        ink = tuple(int(c) for c in rng.integers(190, 256, size=3))
    else:
        if rng.uniform() < 0.5:
            img = Image.new("RGB", (width, height), tuple(int(c) for c in rng.integers(200, 256, size=3)))
        else:
            noise = rng.normal(rng.uniform(200, 240), rng.uniform(5, 20), size=(height, width, 3))
            img = Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8), "RGB")
        ink = tuple(int(c) for c in rng.integers(0, 140, size=3))
    draw = ImageDraw.Draw(img)
    y = 20.0
    for line in lines:
        draw.text((20, y), " ".join(line), font=font, fill=ink)
        y += size_px * 1.8
    background = img.getpixel((0, 0))
    img = img.rotate(
        float(rng.uniform(-4, 4)), resample=Image.Resampling.BICUBIC, expand=True, fillcolor=background
    )
    img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 0.8))))
    return _jpeg(img, int(rng.integers(40, 91))), [w for line in lines for w in line]


def normalise(words: Sequence[str]) -> Counter[str]:
    """Words as they are compared: split at spaces, case-folded, punctuation stripped."""
    out: Counter[str] = Counter()
    for text in words:
        for word in text.split():
            cleaned = re.sub(r"[^\w]", "", word.casefold())
            if cleaned:
                out[cleaned] += 1
    return out


def score(found: Sequence[Sequence[str]], truth: Sequence[Sequence[str]]) -> dict[str, float]:
    """Word precision, recall and F1 over pictures; `true_words` is how many were drawn."""
    tp = fp = fn = 0
    for got, want in zip(found, truth, strict=True):
        g, w = normalise(got), normalise(want)
        hit = sum((g & w).values())
        tp, fp, fn = tp + hit, fp + sum(g.values()) - hit, fn + sum(w.values()) - hit
    p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return {"precision": p, "recall": r, "f1": 2 * p * r / max(p + r, 1e-12), "true_words": tp + fn}
