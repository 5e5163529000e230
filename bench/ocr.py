"""`python -m bench.ocr`: precision and recall of the words OCR finds in pictures with known text.

Pictures are drawn with Debian's DejaVu fonts (sans, bold, serif) at 9 to 36 pixels, dark
on light at varied contrast, on plain or noisy backgrounds, two to four lines of words from
a fixed list, then turned by up to 4 degrees, blurred a little and saved as JPEG (quality
40 to 90): text as photos and screenshots carry it. A
word counts as found when the recognised words contain it (case-insensitive, punctuation
stripped, each true word matched at most once).

Two readers on the same pictures:

- baseline `plain`: `pytesseract.image_to_string` on the picture as it is;
- `pixseek`: `ingest.ocr.recognise` (grey, small pictures read at twice their size,
  words under the confidence floor dropped), what the OCR job runs.

`--smoke`: 4 pictures, seconds; figures mean nothing.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import time
from collections import Counter
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from bench.common import add_smoke_flag, machine, output_dir, say, write_json
from pixseek.core.settings import OcrSettings
from pixseek.ingest.ocr import recognise

FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
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
    "Total",
    "Amount",
    "Coffee",
    "Tea",
]
SEED = 1_404


def picture(rng: np.random.Generator) -> tuple[Image.Image, list[str]]:
    """A picture with 2-4 lines of 2-4 words, the words it shows."""
    size_px = int(rng.integers(9, 37))
    font_path = next(p for p in rng.permutation(FONTS) if os.path.exists(p))
    font = ImageFont.truetype(str(font_path), size_px)
    lines = [
        [str(w) for w in rng.choice(WORDS, size=int(rng.integers(2, 5)))] for _ in range(rng.integers(2, 5))
    ]
    width = int(max(font.getlength(" ".join(line)) for line in lines) + 40 + rng.integers(0, 120))
    height = int(len(lines) * size_px * 1.8 + 40 + rng.integers(0, 80))
    if rng.uniform() < 0.5:
        img = Image.new("RGB", (width, height), tuple(int(c) for c in rng.integers(200, 256, size=3)))
    else:
        noise = rng.normal(rng.uniform(200, 240), rng.uniform(5, 20), size=(height, width, 3))
        img = Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    ink = tuple(int(c) for c in rng.integers(0, 140, size=3))
    y = 20.0
    for line in lines:
        draw.text((20, y), " ".join(line), font=font, fill=ink)
        y += size_px * 1.8
    img = img.rotate(float(rng.uniform(-4, 4)), resample=Image.Resampling.BICUBIC, expand=True, fillcolor=ink)
    img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 0.8))))
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=int(rng.integers(40, 91)))
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"), [w for line in lines for w in line]


def _norm(words: list[str]) -> Counter[str]:
    out: Counter[str] = Counter()
    for word in words:
        cleaned = re.sub(r"[^\w]", "", word.casefold())
        if cleaned:
            out[cleaned] += 1
    return out


def score(found: list[list[str]], truth: list[list[str]]) -> dict[str, float]:
    tp = fp = fn = 0
    for got, want in zip(found, truth, strict=True):
        g, w = _norm(got), _norm(want)
        hit = sum((g & w).values())
        tp, fp, fn = tp + hit, fp + sum(g.values()) - hit, fn + sum(w.values()) - hit
    p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return {"precision": p, "recall": r, "f1": 2 * p * r / max(p + r, 1e-12), "true_words": tp + fn}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import pytesseract

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pictures", type=int, default=60)
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    count = 4 if args.smoke else args.pictures
    rng = np.random.default_rng(SEED)
    pictures = [picture(rng) for _ in range(count)]
    truth = [words for _, words in pictures]
    settings = OcrSettings()
    runs: dict[str, Any] = {}
    for name in ("plain", "pixseek"):
        start = time.perf_counter()
        if name == "plain":
            found = [pytesseract.image_to_string(img).split() for img, _ in pictures]
        else:
            found = [[w.text for w in recognise(img, settings)] for img, _ in pictures]
        seconds = time.perf_counter() - start
        runs[name] = {**score(found, truth), "seconds_per_picture": seconds / count}
    report = {
        "machine": machine(),
        "pictures": count,
        "tesseract": str(pytesseract.get_tesseract_version()),
        "runs": runs,
    }
    with output_dir(args.smoke, "ocr") as folder:
        write_json("ocr.json", report, folder)
    say(f"# OCR on {count} pictures ({report['tesseract']}), {machine()['cpu']}\n")
    say("| reader | precision | recall | F1 | s / picture | recall / plain |\n|---|---|---|---|---|---|\n")
    for name, r in runs.items():
        ratio = r["recall"] / max(runs["plain"]["recall"], 1e-12)
        say(
            f"| {name} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} "
            f"| {r['seconds_per_picture']:.2f} | {ratio:.2f} |\n"
        )
    return report


if __name__ == "__main__":
    main()
