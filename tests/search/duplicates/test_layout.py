"""The `similar` tier's layout check: patch tokens must agree in place, a small move allowed."""

from __future__ import annotations

import numpy as np
import pytest

from pixseek.core.settings import Settings
from pixseek.search.duplicates.layout import LayoutRule, check_layout, layout_agreement
from pixseek.search.duplicates.matching import Matches

DIM = 32


def _things(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    return [rng.normal(size=DIM).astype(np.float32) for _ in range(n)]


def _grid(
    things: list[np.ndarray], places: list[tuple[int, int]], rng: np.random.Generator, shape: tuple[int, int]
) -> np.ndarray:
    """A (rows, cols, DIM) token grid: a background with faint noise, each thing on a 2x2 block."""
    background = np.ones(DIM, dtype=np.float32)
    grid = np.tile(background, (*shape, 1)) + 0.05 * rng.normal(size=(*shape, DIM)).astype(np.float32)
    for thing, (y, x) in zip(things, places, strict=True):
        grid[y : y + 2, x : x + 2] = thing + 0.05 * rng.normal(size=(2, 2, DIM))
    return grid


def _matches(pairs: list[tuple[int, int]], kinds: list[str], cls: list[float]) -> Matches:
    m = len(pairs)
    return Matches(
        pairs=np.array(pairs, dtype=np.int64).reshape(m, 2),
        kinds=np.array(kinds),
        scores=np.array(cls, dtype=np.float32),
        distance=np.full(m, 30, dtype=np.int32),
        agreement=np.zeros(m, dtype=np.float32),
        cls=np.array(cls, dtype=np.float32),
        big=np.zeros(m, dtype=np.int64),
        window=np.zeros(m, dtype=np.int64),
        turn=np.zeros(m, dtype=np.int64),
        box=np.tile([0.0, 0.0, 1.0, 1.0], (m, 1)),
    )


def test_a_retake_with_things_moved_one_cell_agrees_and_a_rearranged_scene_does_not() -> None:
    rng = np.random.default_rng(0)
    things = _things(rng, 2)
    scene = _grid(things, [(1, 1), (5, 4)], rng, (8, 8))
    retake = _grid(things, [(2, 1), (5, 5)], rng, (8, 8))  # each thing moved by one cell
    swapped = _grid(things[::-1], [(1, 1), (5, 4)], rng, (8, 8))  # the same things, places swapped
    elsewhere = _grid(things, [(5, 0), (0, 5)], rng, (8, 8))  # the same things, far from their places
    assert layout_agreement(scene, scene) == pytest.approx(1.0, abs=1e-5)
    moved = layout_agreement(scene, retake, shift=1)
    assert moved > 0.9
    assert layout_agreement(scene, retake, shift=0) < moved  # the shift allowance is what admits it
    # Below the default rule (0.8) by a margin: the background, alike in both, still agrees.
    assert layout_agreement(scene, swapped) < 0.7
    assert layout_agreement(scene, elsewhere) < 0.7


def test_grids_of_different_sizes_are_compared_on_a_common_grid() -> None:
    rng = np.random.default_rng(1)
    things = _things(rng, 2)
    square = _grid(things, [(2, 2), (5, 5)], rng, (8, 8))
    # The same scene with one more column of background on the right: resampled to 8x8.
    wider = np.concatenate([square, np.tile(square[:, -1:], (1, 1, 1))], axis=1)
    other = _grid(things[::-1], [(2, 2), (5, 5)], rng, (8, 9))
    assert layout_agreement(square, wider) > 0.8
    assert layout_agreement(square, other) < 0.7


def test_one_thing_missing_lowers_the_agreement_both_ways() -> None:
    rng = np.random.default_rng(2)
    things = _things(rng, 2)
    both = _grid(things, [(1, 1), (5, 5)], rng, (8, 8))
    one = _grid(things[:1], [(1, 1)], rng, (8, 8))
    # Seen from `one`, its only thing has its like; seen from `both`, the second has none:
    # the lower of the two ways counts, so the order of the pair does not matter.
    assert layout_agreement(both, one) == pytest.approx(layout_agreement(one, both))
    assert layout_agreement(both, one) < 0.8


def test_check_layout_drops_similar_pairs_that_disagree_and_keeps_unverifiable_ones() -> None:
    rng = np.random.default_rng(3)
    things = _things(rng, 2)
    tokens: dict[int, np.ndarray | None] = {
        0: _grid(things, [(1, 1), (5, 4)], rng, (8, 8)),
        1: _grid(things, [(1, 2), (5, 4)], rng, (8, 8)),  # a retake of 0
        2: _grid(things[::-1], [(1, 1), (5, 4)], rng, (8, 8)),  # alike things, other places
        3: None,  # no patch tokens stored
    }
    matches = _matches(
        [(0, 1), (0, 2), (0, 3), (1, 2)], ["similar", "similar", "similar", "near"], [0.97, 0.96, 0.95, 0.5]
    )
    checked = check_layout(matches, tokens.__getitem__, LayoutRule(min_agreement=0.8, shift=1))
    assert checked.pairs.tolist() == [[0, 1], [0, 3], [1, 2]]
    assert checked.layout is not None
    assert checked.layout[0] > 0.8 and np.isnan(checked.layout[1]) and np.isnan(checked.layout[2])
    assert checked.reason(0).startswith("similar: CLS cosine 0.970, layout agreement 0.")
    assert checked.reason(1) == "similar: CLS cosine 0.950; layout not checked (no patch tokens)"
    assert checked.reason(2).startswith("near: ")


def test_check_layout_off_leaves_the_matches_and_their_reasons_as_they_were() -> None:
    matches = _matches([(0, 1)], ["similar"], [0.93])

    def no_reads(row: int) -> np.ndarray | None:
        raise AssertionError("tokens read with the check off")

    same = check_layout(matches, no_reads, LayoutRule(min_agreement=None))
    assert same is matches
    assert same.reason(0) == "similar: CLS cosine 0.930"


def test_layout_rule_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXSEEK_DUPLICATES__SIMILAR_LAYOUT", "0.7")
    monkeypatch.setenv("PIXSEEK_DUPLICATES__SIMILAR_SHIFT", "2")
    assert LayoutRule.of(Settings()) == LayoutRule(min_agreement=0.7, shift=2)
    monkeypatch.setenv("PIXSEEK_DUPLICATES__SIMILAR_LAYOUT", "-1")
    assert LayoutRule.of(Settings()).min_agreement is None
