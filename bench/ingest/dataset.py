"""A folder of real-size JPEGs built from the COCO sample: resized and cropped variants."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image

SAMPLE = Path("shared") / "datasets" / "coco-mini-train"
# Long sides of the variants: phone photos and camera exports, not thumbnails.
LONG_SIDES = (640, 1024, 1280, 1600, 2000)


def default_source() -> Path:
    """The COCO sample in the nearest `shared/datasets` above this checkout."""
    for parent in Path(__file__).resolve().parents:
        if (parent / SAMPLE).is_dir():
            return parent / SAMPLE
    raise SystemExit(f"cannot find {SAMPLE} above {Path(__file__).parent}; pass --source")


def _variant(img: Image.Image, rng: random.Random, long_side: int, crop: bool) -> Image.Image:
    if crop:
        # A random crop of 60-90% of each side, as a user's edited copy would be.
        w, h = img.size
        cw, ch = int(w * rng.uniform(0.6, 0.9)), int(h * rng.uniform(0.6, 0.9))
        left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
        img = img.crop((left, top, left + cw, top + ch))
    scale = long_side / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.Resampling.LANCZOS)


def build(folder: Path, count: int, source: Path, seed: int = 0) -> list[Path]:
    """`count` JPEGs in `folder` (reused when already there), sides 640-2000 px."""
    marker = folder / f".complete-{count}"
    if marker.exists():
        return sorted(folder.glob("*.jpg"))
    photos = sorted(source.glob("*.jpg"))
    if not photos:
        raise SystemExit(f"no JPEGs in {source}")
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.jpg"):
        old.unlink()
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        photo = photos[i % len(photos)]
        with Image.open(photo) as im:
            img = im.convert("RGB")
        variant = _variant(img, rng, LONG_SIDES[(i // len(photos)) % len(LONG_SIDES)], crop=i % 2 == 1)
        path = folder / f"{i:05d}.jpg"
        variant.save(path, "JPEG", quality=rng.choice((85, 90, 95)))
        paths.append(path)
    marker.touch()
    return paths
