"""The held-out library: generated scenes the tiny model never saw, with known answers.

The tests of meaning (`tests/meaning`) and the tiny model's figures
(`python -m bench.train_tiny.figures`) search it.

Three folders, each ingested as its own bucket, keys unique across them (the seed
differs from training's):

- `single/`: one scene per (colour, shape), 30 in all: each one-thing query has exactly
  one right answer.
- `pairs/`: two-thing scenes, no two with the same colours and shapes, with their
  captions as sidecar `.txt` files (hybrid search reads them).
- `retakes/`: scenes of two or three things (`scene*.png`), no two with the same things,
  each with a retake (`retake*.png`: the same things moved a little, sizes changed a
  little, a new background): the `similar` tier.
  A third take of each (`takes/`, not ingested) is the query of image-to-image search.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixseek.demo.scenes import (
    COLOURS,
    SHAPES,
    Layout,
    SceneFile,
    jitter,
    random_layout,
    render,
    write_scenes,
)

SIZE = 160
SEED = 20_261_201
PAIRS = 40
RETAKES = 12


@dataclass(frozen=True)
class Library:
    root: Path
    single: list[SceneFile]
    pairs: list[SceneFile]
    retakes: list[tuple[SceneFile, SceneFile]]  # (original, retake)
    takes: list[Path]  # a third take of each retake pair, outside the library

    def folder(self, name: str) -> Path:
        return self.root / name


def _distinct_pairs(rng: np.random.Generator, count: int) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """Pairs of things of two colours and two shapes; no two pairs use the same four words."""
    kinds = [(c, s) for c in COLOURS for s in SHAPES]
    pairs = [(a, b) for a, b in itertools.combinations(kinds, 2) if a[0] != b[0] and a[1] != b[1]]
    chosen: list[tuple[tuple[str, str], tuple[str, str]]] = []
    words: set[frozenset[str]] = set()
    for i in rng.permutation(len(pairs)):
        a, b = pairs[i]
        bag = frozenset({*a, *b})
        if bag not in words:
            words.add(bag)
            chosen.append((a, b) if rng.uniform() < 0.5 else (b, a))
        if len(chosen) == count:
            break
    return chosen


def build_library(root: Path, *, seed: int = SEED, retakes: int = RETAKES) -> Library:
    """The library under `root`; another `seed` (and count of retake scenes) draws another
    one, for tuning a rule on scenes other than those it is then measured on."""
    rng = np.random.default_rng(seed)
    kinds = [(c, s) for c in COLOURS for s in SHAPES]
    single_layouts = [random_layout(rng, kinds=[kind]) for kind in kinds]
    single = write_scenes(root / "single", single_layouts, size=SIZE, prefix="single")
    pair_layouts = [random_layout(rng, kinds=list(pair)) for pair in _distinct_pairs(rng, PAIRS)]
    pairs = write_scenes(root / "pairs", pair_layouts, size=SIZE, sidecars=True, prefix="pair")
    # Retakes: scenes with distinct sets of things, so that two different scenes never
    # show the same things.
    originals: list[Layout] = []
    seen: set[frozenset[str]] = set()
    while len(originals) < retakes:
        # Textured backgrounds: on a flat one pHash alone calls different scenes near copies
        # (tests/meaning: test_different_flat_scenes_are_not_near_copies).
        layout = random_layout(rng, things=int(rng.integers(2, 4)), backgrounds=("noise", "texture"))
        names = frozenset(t.name for t in layout.things)
        if len(names) == len(layout.things) and names not in seen:
            seen.add(names)
            originals.append(layout)
    first = write_scenes(root / "retakes", originals, size=SIZE, prefix="scene")
    second = write_scenes(
        root / "retakes", [jitter(o, rng, shift=0.08) for o in originals], size=SIZE, prefix="retake"
    )
    takes_dir = root / "takes"
    takes_dir.mkdir()
    takes = []
    for i, layout in enumerate(originals):
        path = takes_dir / f"take{i:04d}.png"
        render(jitter(layout, rng, shift=0.08), SIZE).save(path)
        takes.append(path)
    return Library(root, single, pairs, list(zip(first, second, strict=True)), takes)


def eval_queries(library: Library, region_scenes: int = 20) -> list[dict[str, object]]:
    """`pixseek eval` JSON lines for the library: one-thing texts, retakes, region boxes.

    A one-thing text's relevant scenes are all that show the thing; an original's relevant
    image is its retake; each thing of the first `region_scenes` pairs is a region query.
    """
    everything = library.single + library.pairs + [s for pair in library.retakes for s in pair]
    lines: list[dict[str, object]] = []
    for scene in library.single:
        thing = scene.layout.things[0]
        relevant = [s.key for s in everything if any(t.name == thing.name for t in s.layout.things)]
        lines.append({"query": f"a {thing.name}", "relevant": relevant})
    for original, retake in library.retakes:
        lines.append({"image": original.key, "relevant": [retake.key]})
    for scene in library.pairs[:region_scenes]:
        for thing in scene.layout.things:
            lines.append(
                {"query": f"a {thing.name}", "boxes": {scene.key: [list(thing.pixel_box(SIZE, SIZE))]}}
            )
    return lines
