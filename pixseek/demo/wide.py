"""Wide generated scenes with a named thing at an edge or in the centre (issue 17's measurements).

Pictures 192 px high at 4:3, 16:9 and 3:1; each shows the named thing (`target`) at the left
edge, in the centre or at the right edge, normal-sized (a side of 0.4x the height) or small
(0.2x: 1.3-3% of the picture), and another thing of another colour and shape away from it.
`python -m bench.regions.coverage` measures region search on them; tests/meaning checks
that edge things are found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pixseek.demo.scenes import COLOURS, SHAPES, Layout, Thing

HEIGHT = 192
ASPECTS = {"4:3": 256, "16:9": 341, "3:1": 576}
POSITIONS = ("left", "centre", "right")
SIZES = {"normal": 0.4, "small": 0.2}  # side as a share of the height


@dataclass(frozen=True)
class WideScene:
    aspect: str
    position: str
    size: str
    width: int
    layout: Layout  # boxes as shares of the width

    @property
    def target(self) -> Thing:
        return self.layout.things[0]

    def box(self, thing: Thing) -> tuple[int, int, int, int]:
        return thing.pixel_box(self.width, self.width)


def _thing(name: tuple[str, str], size: str, x0: float, y0: float, side: float) -> Thing:
    colour, shape = name
    return Thing(shape, colour, size, (x0, y0, x0 + side, y0 + side))


def wide_scenes(
    per_cell: int,
    seed: int = 0,
    *,
    aspects: tuple[str, ...] = tuple(ASPECTS),
    positions: tuple[str, ...] = POSITIONS,
    sizes: tuple[str, ...] = tuple(SIZES),
) -> list[WideScene]:
    """`per_cell` scenes for every (aspect, position, size): the named thing and one other.

    Boxes are shares of the picture's width on both axes (`WideScene.box` gives pixels).
    """
    rng = np.random.default_rng(seed)
    kinds = [(c, s) for c in COLOURS for s in SHAPES]
    scenes = []
    for aspect in aspects:
        width = ASPECTS[aspect]
        for position in positions:
            for size in sizes:
                share = SIZES[size]
                for _ in range(per_cell):
                    a, b = rng.choice(len(kinds), size=2, replace=False)
                    target, other = kinds[int(a)], kinds[int(b)]
                    while other[0] == target[0] or other[1] == target[1]:
                        other = kinds[int(rng.integers(len(kinds)))]
                    side = share * HEIGHT
                    margin = 0.03 * HEIGHT
                    if position == "left":
                        x0 = margin
                    elif position == "right":
                        x0 = width - margin - side
                    else:
                        x0 = (width - side) / 2 + float(rng.uniform(-0.05, 0.05)) * HEIGHT
                    y0 = float(rng.uniform(margin, HEIGHT - margin - side))
                    # The other thing: normal size, on the side away from the target.
                    other_side = SIZES["normal"] * HEIGHT
                    ox0 = width - margin - other_side if x0 + side / 2 < width / 2 else margin
                    if position == "centre":
                        ox0 = margin if rng.uniform() < 0.5 else width - margin - other_side
                    oy0 = float(rng.uniform(margin, HEIGHT - margin - other_side))
                    things = (
                        _thing(target, size, x0 / width, y0 / width, side / width),
                        _thing(other, "big", ox0 / width, oy0 / width, other_side / width),
                    )
                    background = str(rng.choice(["plain", "noise", "texture"]))
                    layout = Layout(things, background, int(rng.integers(2**31)))
                    scenes.append(WideScene(aspect, position, size, width, layout))
    return scenes
