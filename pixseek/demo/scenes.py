"""Generated scenes: coloured shapes on varied backgrounds, with captions and true boxes.

One generator serves the tiny model's training (`bench/train_tiny`), the tests of meaning
(`tests/meaning`) and `pixseek demo`. Everything is drawn from a seed, so the same seed
gives the same pictures, captions and boxes on every machine.

A scene holds one to four *things* (a shape in a colour and a size) that do not overlap,
on one of four backgrounds: a plain muted colour, noise, a texture (stripes, checks or a
gradient), or a crop of a real photo when a photo folder is given. Captions come from a
small grammar: "a red circle", "a big blue square on the left", "two yellow stars",
"a green cross left of a white triangle", "a red circle, a blue star and a green square".

Example:
    >>> rng = np.random.default_rng(0)
    >>> layout = random_layout(rng, things=1)
    >>> image = render(layout, 160)
    >>> caption(layout)  # doctest: +SKIP
    'a big red circle'
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 35),
    "yellow": (245, 215, 30),
    "green": (30, 170, 60),
    "blue": (30, 70, 225),
    "purple": (150, 50, 200),
    "white": (250, 250, 250),
}
SHAPES = ("circle", "square", "triangle", "star", "cross")
# Side of a thing's box as a share of the picture's side.
SIZES: dict[str, tuple[float, float]] = {"small": (0.28, 0.34), "big": (0.37, 0.44)}
BACKGROUNDS = ("plain", "noise", "texture", "photo")
THING_COUNTS = (0.4, 0.35, 0.15, 0.1)  # how often a random scene has 1, 2, 3, 4 things
_MARGIN = 0.02  # free space kept between things and to the border (share of the side)
_PLACEMENT_TRIES = 200
# COCO licence ids that allow derivative and commercial use (CC BY, CC BY-SA, no known
# copyright, US government work): only those photos become backgrounds of training data.
OPEN_LICENCES = frozenset({4, 5, 7, 8})


@dataclass(frozen=True)
class Thing:
    """A shape in a colour; `box` is (x0, y0, x1, y1) as shares of the picture's side."""

    shape: str
    colour: str
    size: str
    box: tuple[float, float, float, float]

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"

    @property
    def centre(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return (x0 + x1) / 2, (y0 + y1) / 2

    def pixel_box(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The box in pixels of a `width` x `height` rendering (rounded as it is drawn)."""
        x0, y0, x1, y1 = self.box
        return round(x0 * width), round(y0 * height), round(x1 * width), round(y1 * height)


@dataclass(frozen=True)
class Layout:
    """What a scene shows: its things and its background (kind and the seed that draws it)."""

    things: tuple[Thing, ...]
    background: str
    background_seed: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Layout:
        things = tuple(
            Thing(str(t["shape"]), str(t["colour"]), str(t["size"]), _box4(t["box"])) for t in data["things"]
        )
        return cls(
            things=things, background=str(data["background"]), background_seed=int(data["background_seed"])
        )


def _box4(values: Sequence[float]) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in values)
    return x0, y0, x1, y1


def _overlaps(a: tuple[float, ...], b: tuple[float, ...], margin: float = _MARGIN) -> bool:
    """Whether two boxes come closer than `margin` (share of the side)."""
    apart_x = a[2] + margin <= b[0] or b[2] + margin <= a[0]
    apart_y = a[3] + margin <= b[1] or b[3] + margin <= a[1]
    return not (apart_x or apart_y)


def _place(
    rng: np.random.Generator, side: float, placed: Sequence[tuple[float, ...]]
) -> tuple[float, float, float, float] | None:
    for _ in range(_PLACEMENT_TRIES):
        x0 = float(rng.uniform(_MARGIN, 1 - _MARGIN - side))
        y0 = float(rng.uniform(_MARGIN, 1 - _MARGIN - side))
        box = (x0, y0, x0 + side, y0 + side)
        if not any(_overlaps(box, other) for other in placed):
            return box
    return None


def random_layout(
    rng: np.random.Generator,
    *,
    things: int | None = None,
    backgrounds: Sequence[str] = ("plain", "noise", "texture"),
    kinds: Sequence[tuple[str, str]] | None = None,
    sizes: Sequence[str] | None = None,
) -> Layout:
    """A random scene: `things` objects placed without overlap (when None, 1-4: mostly 1 or 2).

    `kinds` fixes the (colour, shape) of each thing in order; `sizes` their size words.
    """
    count = int(rng.choice(4, p=THING_COUNTS) + 1) if things is None else things
    if kinds is not None:
        count = len(kinds)
    while True:
        chosen: list[Thing] = []
        for i in range(count):
            colour, shape = (
                kinds[i] if kinds is not None else (str(rng.choice(list(COLOURS))), str(rng.choice(SHAPES)))
            )
            size = sizes[i] if sizes is not None else str(rng.choice(list(SIZES)))
            if count >= 3 and sizes is None:
                size = "small"  # three or four big things rarely fit
            low, high = SIZES[size]
            box = _place(rng, float(rng.uniform(low, high)), [t.box for t in chosen])
            if box is None:
                break
            chosen.append(Thing(shape, colour, size, box))
        if len(chosen) == count:
            break
    return Layout(tuple(chosen), str(rng.choice(list(backgrounds))), int(rng.integers(2**31)))


def jitter(layout: Layout, rng: np.random.Generator, shift: float = 0.05) -> Layout:
    """The same things moved by up to `shift` of the side, resized by up to 8%, on a new background.

    A retake of the scene: the same content, a different picture. When the moved things
    would overlap, the jitter is halved every 50 tries (the original layout always fits).
    """
    for attempt in itertools.count():
        damp = 0.5 ** (attempt // 50)
        moved: list[Thing] = []
        for thing in layout.things:
            x0, y0, x1, y1 = thing.box
            side = (x1 - x0) * (1 + damp * float(rng.uniform(-0.08, 0.08)))
            cx = (x0 + x1) / 2 + damp * float(rng.uniform(-shift, shift))
            cy = (y0 + y1) / 2 + damp * float(rng.uniform(-shift, shift))
            cx = min(max(cx, _MARGIN + side / 2), 1 - _MARGIN - side / 2)
            cy = min(max(cy, _MARGIN + side / 2), 1 - _MARGIN - side / 2)
            box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
            if any(_overlaps(box, other.box, _MARGIN / 2) for other in moved):
                break
            moved.append(replace(thing, box=box))
        if len(moved) == len(layout.things):
            break
    return replace(layout, things=tuple(moved), background_seed=int(rng.integers(2**31)))


# --- backgrounds ------------------------------------------------------------------------


class PhotoBackgrounds:
    """Crops of real photos (a COCO-style folder) to draw scenes on.

    Only photos under an open licence (`OPEN_LICENCES`, read from the folder's
    `captions_train2017.json`) are used when that file is present.
    """

    def __init__(self, folder: Path, max_side: int = 320) -> None:
        paths = sorted(folder.glob("*.jpg"))
        licences = folder / "captions_train2017.json"
        if licences.is_file():
            images = json.loads(licences.read_text(encoding="utf-8"))["images"]
            allowed = {i["file_name"] for i in images if i.get("license") in OPEN_LICENCES}
            paths = [p for p in paths if p.name in allowed]
        self.photos: list[Image.Image] = []
        for path in paths:
            with Image.open(path) as img:
                photo = img.convert("RGB")
            photo.thumbnail((max_side, max_side))
            self.photos.append(photo)
        if not self.photos:
            raise FileNotFoundError(f"no usable photos in {folder}")

    def crop(self, rng: np.random.Generator, size: int) -> Image.Image:
        photo = self.photos[int(rng.integers(len(self.photos)))]
        w, h = photo.size
        side = int(rng.integers(min(w, h) // 2, min(w, h) + 1))
        x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        return photo.resize((size, size), Image.Resampling.BILINEAR, box=(x, y, x + side, y + side))


def _muted(rng: np.random.Generator) -> np.ndarray:
    """A background colour: greyish, so that the things' colours stand out."""
    grey = rng.uniform(60, 200)
    return np.clip(grey + rng.normal(0, 25, size=3), 0, 255)


def _background(kind: str, seed: int, size: int, photos: PhotoBackgrounds | None) -> Image.Image:
    rng = np.random.default_rng(seed)
    if kind == "photo" and photos is not None:
        return photos.crop(rng, size)
    if kind in ("plain", "photo"):  # a photo scene without photos falls back to plain
        colour = _muted(rng)
        return Image.new("RGB", (size, size), tuple(int(c) for c in colour))
    if kind == "noise":
        base = _muted(rng)
        pixels = base + rng.normal(0, rng.uniform(15, 45), size=(size, size, 3))
        img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
        return img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 1.5))))
    a, b = _muted(rng), _muted(rng)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    pattern = int(rng.integers(3))
    if pattern == 0:  # stripes at an angle
        angle = rng.uniform(0, math.pi)
        period = rng.uniform(0.05, 0.2)
        t = (np.cos(angle) * xx + np.sin(angle) * yy) / period
        mix = (np.sin(2 * math.pi * t) > 0).astype(np.float32)
    elif pattern == 1:  # checks
        period = rng.uniform(0.06, 0.2)
        mix = ((np.floor(xx / period) + np.floor(yy / period)) % 2).astype(np.float32)
    else:  # a gradient
        angle = rng.uniform(0, 2 * math.pi)
        mix = np.cos(angle) * xx + np.sin(angle) * yy
        mix = (mix - mix.min()) / max(float(np.ptp(mix)), 1e-6)
    pixels = a * (1 - mix[..., None]) + b * mix[..., None] + rng.normal(0, 6, size=(size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


# --- drawing ----------------------------------------------------------------------------


def _star(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
    points = []
    for i in range(10):
        radius = r if i % 2 == 0 else r * 0.45
        angle = -math.pi / 2 + i * math.pi / 5
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    return points


def _cross(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
    s = x1 - x0
    a, b = s / 3, 2 * s / 3
    return [
        (x0 + a, y0), (x0 + b, y0), (x0 + b, y0 + a), (x1, y0 + a), (x1, y0 + b), (x0 + b, y0 + b),
        (x0 + b, y1), (x0 + a, y1), (x0 + a, y0 + b), (x0, y0 + b), (x0, y0 + a), (x0 + a, y0 + a),
    ]  # fmt: skip


def _draw(draw: ImageDraw.ImageDraw, thing: Thing, size: int) -> None:
    x0, y0, x1, y1 = (v * size for v in thing.box)
    fill = COLOURS[thing.colour]
    outline = tuple(int(c * 0.45) for c in fill)
    width = max(1, size // 80)
    if thing.shape == "circle":
        draw.ellipse((x0, y0, x1, y1), fill=fill, outline=outline, width=width)
    elif thing.shape == "square":
        draw.rectangle((x0, y0, x1, y1), fill=fill, outline=outline, width=width)
    elif thing.shape == "triangle":
        points = [((x0 + x1) / 2, y0), (x1, y1), (x0, y1)]
        draw.polygon(points, fill=fill, outline=outline, width=width)
    elif thing.shape == "star":
        draw.polygon(_star(x0, y0, x1, y1), fill=fill, outline=outline, width=width)
    elif thing.shape == "cross":
        draw.polygon(_cross(x0, y0, x1, y1), fill=fill, outline=outline, width=width)
    else:
        raise ValueError(f"unknown shape {thing.shape!r}")


def render(layout: Layout, size: int = 160, photos: PhotoBackgrounds | None = None) -> Image.Image:
    """The scene as a `size` x `size` RGB picture (a photo background needs `photos`)."""
    img = _background(layout.background, layout.background_seed, size, photos)
    draw = ImageDraw.Draw(img)
    for thing in layout.things:
        _draw(draw, thing, size)
    return img


def render_wide(layout: Layout, width: int, height: int) -> Image.Image:
    """The scene on a `width` x `height` picture; boxes are shares of the *width* on both axes.

    For pictures wider than tall (4:3, 16:9, panoramas): a thing's pixel box is
    `thing.pixel_box(width, width)`.
    """
    img = _background(layout.background, layout.background_seed, max(width, height), None)
    img = img.crop((0, 0, width, height))
    draw = ImageDraw.Draw(img)
    for thing in layout.things:
        _draw(draw, thing, width)
    return img


# --- captions ---------------------------------------------------------------------------

_NUMBERS = {2: "two", 3: "three", 4: "four"}


def _position(thing: Thing) -> str | None:
    """Where a single thing sits: "on the left", "at the top right", ... or None near the middle."""
    cx, cy = thing.centre
    horizontal = "left" if cx < 0.4 else "right" if cx > 0.6 else ""
    vertical = "top" if cy < 0.4 else "bottom" if cy > 0.6 else ""
    if horizontal and vertical:
        return f"at the {vertical} {horizontal}"
    if horizontal:
        return f"on the {horizontal}"
    if vertical:
        return f"at the {vertical}"
    return None


def _relation(a: Thing, b: Thing) -> str | None:
    """How `a` sits relative to `b` when it is clear: "left of", "right of", "above", "below"."""
    (ax, ay), (bx, by) = a.centre, b.centre
    dx, dy = bx - ax, by - ay
    if abs(dx) >= 2 * abs(dy):
        return "left of" if dx > 0 else "right of"
    if abs(dy) >= 2 * abs(dx):
        return "above" if dy > 0 else "below"
    return None


def _plural(shape: str) -> str:
    return shape + ("es" if shape.endswith("s") else "s")


def _groups(things: Sequence[Thing]) -> list[tuple[int, Thing]]:
    """Things of the same colour and shape counted together, in order of first appearance."""
    counts: dict[str, list[Thing]] = {}
    for thing in things:
        counts.setdefault(thing.name, []).append(thing)
    return [(len(group), group[0]) for group in counts.values()]


def _phrase(count: int, thing: Thing, *, size: bool = False, colour: bool = True) -> str:
    words = [thing.size] if size and count == 1 else []
    if colour:
        words.append(thing.colour)
    if count == 1:
        return " ".join(["a", *words, thing.shape])
    return " ".join([_NUMBERS[count], *words, _plural(thing.shape)])


def _join(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def caption(layout: Layout) -> str:
    """The canonical caption: every thing, counted, with the relation of a pair or a lone thing's place."""
    groups = _groups(layout.things)
    if len(groups) == 1 and groups[0][0] == 1:
        thing = layout.things[0]
        where = _position(thing)
        return _phrase(1, thing, size=True) + (f" {where}" if where else "")
    if len(layout.things) == 2 and len(groups) == 2:
        a, b = layout.things
        relation = _relation(a, b)
        if relation:
            return f"{_phrase(1, a)} {relation} {_phrase(1, b)}"
    return _join([_phrase(n, t) for n, t in groups])


@dataclass(frozen=True)
class Claim:
    """What a training caption asserts, to tell which other scenes it is also true of.

    `canonical`: the scene's whole canonical caption is this text. Otherwise every
    (colour, shape) mention is shown (None matches any) and, with `where`, the scene is a
    single thing at that place.
    """

    mentions: tuple[tuple[str | None, str | None], ...] = ()
    canonical: str | None = None
    where: str | None = None

    def holds(self, layout: Layout, canonical: str | None = None) -> bool:
        """True when the claim is true of `layout` (`canonical`: its caption, if already known)."""
        if self.canonical is not None:
            return (canonical if canonical is not None else caption(layout)) == self.canonical
        if self.where is not None and (len(layout.things) != 1 or _position(layout.things[0]) != self.where):
            return False
        return all(
            any((c is None or t.colour == c) and (s is None or t.shape == s) for t in layout.things)
            for c, s in self.mentions
        )


def sample_caption(layout: Layout, rng: np.random.Generator) -> tuple[str, Claim]:
    """A random true caption for training, and what it claims.

    Mixes the canonical caption, one thing alone, the shape or the colour alone, and the
    prompt template pixseek puts around short queries ("a photo of {}.").
    """
    things = layout.things
    if float(rng.uniform()) < 0.45:
        text = caption(layout)
        claim = Claim(canonical=text)
    else:
        thing = things[int(rng.integers(len(things)))]
        detail = float(rng.uniform())
        if detail < 0.12:  # the shape alone: "a circle", "two stars"
            n = sum(t.shape == thing.shape for t in things)
            text = f"a {thing.shape}" if n == 1 else f"{_NUMBERS[n]} {_plural(thing.shape)}"
            claim = Claim(mentions=((None, thing.shape),))
        elif detail < 0.2:  # the colour alone
            text = f"something {thing.colour}"
            claim = Claim(mentions=((thing.colour, None),))
        else:
            n = sum(t.name == thing.name for t in things)
            text = _phrase(n, thing, size=bool(rng.uniform() < 0.3))
            where = _position(thing) if len(things) == 1 and rng.uniform() < 0.5 else None
            text += f" {where}" if where else ""
            claim = Claim(mentions=((thing.colour, thing.shape),), where=where)
    if rng.uniform() < 0.3:
        text = f"a photo of {text}."
    return text, claim


# --- folders of scenes --------------------------------------------------------------------

MANIFEST = "scenes.jsonl"


@dataclass(frozen=True)
class SceneFile:
    """A rendered scene on disk: its key (file name), canonical caption and layout."""

    key: str
    caption: str
    layout: Layout

    def boxes(self, size: int) -> list[dict[str, object]]:
        return [{"name": t.name, "box": list(t.pixel_box(size, size))} for t in self.layout.things]


def write_scenes(
    folder: Path,
    layouts: Sequence[Layout],
    *,
    size: int = 160,
    photos: PhotoBackgrounds | None = None,
    sidecars: bool = False,
    prefix: str = "scene",
) -> list[SceneFile]:
    """Render `layouts` as PNGs in `folder`, with `scenes.jsonl` (key, caption, boxes, layout).

    With `sidecars`, each picture gets its caption in `<name>.txt` beside it, which
    pixseek ingests for keyword search.
    """
    folder.mkdir(parents=True, exist_ok=True)
    scenes = []
    with (folder / MANIFEST).open("a", encoding="utf-8") as manifest:
        for i, layout in enumerate(layouts):
            key = f"{prefix}{i:04d}.png"
            scene = SceneFile(key, caption(layout), layout)
            render(layout, size, photos).save(folder / key, format="PNG")
            if sidecars:
                (folder / key).with_suffix(".txt").write_text(scene.caption + "\n", encoding="utf-8")
            record = {"key": key, "caption": scene.caption, "size": size, "boxes": scene.boxes(size)}
            manifest.write(json.dumps({**record, "layout": layout.to_dict()}) + "\n")
            scenes.append(scene)
    return scenes


def read_scenes(folder: Path) -> list[SceneFile]:
    """The scenes `write_scenes` recorded in `folder`."""
    scenes = []
    for line in (folder / MANIFEST).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        scenes.append(SceneFile(record["key"], record["caption"], Layout.from_dict(record["layout"])))
    return scenes
