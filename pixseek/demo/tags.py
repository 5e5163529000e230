"""A tag vocabulary with a known answer: the colours and shapes of the generated scenes.

With the bundled tiny model (`pixseek-scenes`), a scene carries the tag `red` when one of
its things is red and `circle` when one is a circle, so the precision and recall of tags
can be measured (tests/meaning/test_tags.py, bench/tags.py).
"""

from __future__ import annotations

from typing import Any

from pixseek.demo.scenes import COLOURS, SHAPES, Layout

# Measured on held-out scenes (bench/tags.py): the best F1 of the softmax rule lies at 0.065-0.07.
SCENE_THRESHOLD = 0.07


def scene_vocabulary(threshold: float = SCENE_THRESHOLD) -> dict[str, Any]:
    """A user vocabulary file's content: one category per colour and per shape, no defaults."""
    categories = [{"name": c, "prompts": [f"something {c}"]} for c in COLOURS]
    categories += [{"name": s, "prompts": [f"a {s}"]} for s in SHAPES]
    return {
        "include_defaults": False,
        "templates": ["{}", "a photo of {}."],
        "threshold": threshold,
        "background": [],
        "categories": categories,
    }


def scene_tags(layout: Layout) -> set[str]:
    """The tags a scene truly carries: its things' colours and shapes."""
    return {t.colour for t in layout.things} | {t.shape for t in layout.things}
