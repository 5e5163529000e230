"""The `similar` tier's second signal: the same things in about the same places.

A CLS vector says what a picture shows, not where: two different scenes of alike things
(a white square and a purple cross; a white cross and a purple cross, elsewhere) pass
any cosine threshold a retake passes. So each `similar` candidate pair is checked on the
patch tokens ingest stored for region search (`index/vectors/patch_store.py`), one (rows, cols, dim)
grid per picture:

1. Both grids are resampled to a common size when they differ (the area average, as the
   perceptual hashes squash a picture's aspect).
2. Each picture's mean token is subtracted: what every cell shares (the picture's overall
   look, its background) says nothing about where things are. What remains of a cell is
   its own content; its length weighs the cell (a thing counts more than a plain sky).
3. Each cell is matched to its best cell of the other picture within `shift` cells (a
   retake is moved a little, a burst shot turned a little): the cosine of the two.
4. The layout agreement is the weighted mean of those cosines, taken both ways round,
   the lower kept: every thing of each picture must have its like near the same place.

Pairs below `min_agreement` are not `similar`. A pair with no patch tokens for one of its
images (not yet embedded, or a store that was not kept) cannot be checked: it is judged
on CLS alone, as before, and its reason says so.

Only the pairs already `similar` by CLS are read, two small files each, a batch of pairs
at a time: detection at scale does not grow by this check beyond those pairs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pixseek.core.settings import Settings
from pixseek.index.catalog.duplicates import Kind
from pixseek.index.vectors.patch_store import PatchStore
from pixseek.media.perceptual_hash import box_matrix
from pixseek.search.duplicates.matching import Matches

# One image's patch tokens by row of the compared collection; None when it has none.
PatchRows = Callable[[int], np.ndarray | None]
# Pairs whose images' tokens are held at once: at most 2,048 grids, about 150 MB of fp16
# for ViT-B/32 grids of a 4:3 picture (7 x 10 x 512); the tiny model's take 8 KB each.
_PAIRS_PER_BATCH = 1024
# Pairs scored in one array step: 128 pairs of 7 x 10 x 512 grids are about 18 MB per
# float32 copy, and a step makes a few.
_PAIRS_PER_STEP = 128


@dataclass(frozen=True)
class LayoutRule:
    min_agreement: float | None = 0.82  # None: not checked, CLS alone decides
    shift: int = 1  # cells a thing may move between two shots

    @classmethod
    def of(cls, settings: Settings) -> LayoutRule:
        cfg = settings.duplicates
        off = cfg.similar_layout <= -1.0
        return cls(min_agreement=None if off else cfg.similar_layout, shift=cfg.similar_shift)


class StoredPatches:
    """The patch store read by collection row (`ids[row]` is the image id)."""

    def __init__(self, store: PatchStore, ids: np.ndarray) -> None:
        self.store = store
        self.ids = ids

    def __call__(self, row: int) -> np.ndarray | None:
        return self.store.get(int(self.ids[row]))


def _resampled(tokens: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(h, w, d) tokens averaged down (or spread) to a (rows, cols, d) grid."""
    h, w, _ = tokens.shape
    if (h, w) == (rows, cols):
        return tokens
    zero, one = np.array(0.0), np.array(1.0)
    ay = box_matrix(zero, one, rows, h).astype(np.float32)  # (rows, h)
    ax = box_matrix(zero, one, cols, w).astype(np.float32)  # (cols, w)
    return np.einsum("rh,hwd,cw->rcd", ay, tokens, ax)


def _cells(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unit vectors of the cells after the picture's mean token is removed, their weights).

    `tokens` is (P, rows, cols, dim) float32; the mean is taken per picture.
    """
    count, rows, cols, dim = tokens.shape
    flat = tokens.reshape(count, rows * cols, dim)
    centred = flat - flat.mean(axis=1, keepdims=True)
    weight = np.sqrt(np.einsum("pnd,pnd->pn", centred, centred))
    centred /= np.maximum(weight, 1e-6)[..., None]
    return centred.reshape(tokens.shape), weight.reshape(count, rows, cols)


def _one_way(unit_a: np.ndarray, weight_a: np.ndarray, unit_b: np.ndarray, shift: int) -> np.ndarray:
    """(P,) weighted means over a's cells of the best cosine with b's cells within `shift` cells.

    `unit_a`, `unit_b`: (P, rows, cols, dim); `weight_a`: (P, rows, cols). Only the
    (2 shift + 1)^2 neighbours of each cell are compared, not every pair of cells.
    """
    count, rows, cols, _ = unit_a.shape
    padded = np.zeros((count, rows + 2 * shift, cols + 2 * shift, unit_b.shape[-1]), dtype=np.float32)
    padded[:, shift : shift + rows, shift : shift + cols] = unit_b
    inside = np.pad(np.ones((rows, cols), dtype=bool), shift)
    best = np.full((count, rows, cols), -1.0, dtype=np.float32)
    for dy in range(2 * shift + 1):
        for dx in range(2 * shift + 1):
            cosine = np.einsum("pijd,pijd->pij", unit_a, padded[:, dy : dy + rows, dx : dx + cols])
            # A neighbour outside the picture is no match (its zero padding would read as cosine 0).
            valid = inside[dy : dy + rows, dx : dx + cols]
            best = np.maximum(best, np.where(valid, cosine, -1.0))
    total = weight_a.sum(axis=(1, 2))
    mean = (best * weight_a).sum(axis=(1, 2)) / np.maximum(total, 1e-12)
    return np.where(total > 0, mean, 1.0)


def _agreements(tokens_a: np.ndarray, tokens_b: np.ndarray, shift: int) -> np.ndarray:
    """(P,) layout agreements of P pairs of same-shape (P, rows, cols, dim) token grids."""
    unit_a, weight_a = _cells(tokens_a.astype(np.float32))
    unit_b, weight_b = _cells(tokens_b.astype(np.float32))
    return np.minimum(_one_way(unit_a, weight_a, unit_b, shift), _one_way(unit_b, weight_b, unit_a, shift))


def layout_agreement(tokens_a: np.ndarray, tokens_b: np.ndarray, *, shift: int = 1) -> float:
    """How well two pictures' (h, w, dim) patch tokens agree in place, in [-1, 1] (see module doc).

    Example:
        >>> a = np.random.default_rng(0).normal(size=(8, 8, 16)).astype(np.float32)
        >>> round(layout_agreement(a, a), 3)
        1.0
    """
    rows = min(tokens_a.shape[0], tokens_b.shape[0])
    cols = min(tokens_a.shape[1], tokens_b.shape[1])
    a = _resampled(np.asarray(tokens_a, dtype=np.float32), rows, cols)
    b = _resampled(np.asarray(tokens_b, dtype=np.float32), rows, cols)
    return float(_agreements(a[None], b[None], shift)[0])


def check_layout(matches: Matches, patches: PatchRows, rule: LayoutRule) -> Matches:
    """`matches` with each `similar` pair's layout agreement; those below the rule dropped.

    Returns a new Matches whose `layout` holds the agreement of similar pairs (NaN for near
    pairs and for pairs without patch tokens). With the check off, `matches` unchanged.
    """
    if rule.min_agreement is None or not len(matches):
        return matches
    layout = np.full(len(matches), np.nan, dtype=np.float32)
    similar = np.flatnonzero(matches.kinds == Kind.SIMILAR.value)
    for start in range(0, len(similar), _PAIRS_PER_BATCH):
        part = similar[start : start + _PAIRS_PER_BATCH]
        read = {int(r): patches(int(r)) for r in np.unique(matches.pairs[part])}
        tokens = {row: grid for row, grid in read.items() if grid is not None}
        # Pairs whose grids have one shape are scored together; others one by one.
        same_shape: dict[tuple[int, ...], list[int]] = {}
        for i in part:
            a, b = (tokens.get(int(r)) for r in matches.pairs[i])
            if a is None or b is None:
                continue
            if a.shape == b.shape:
                same_shape.setdefault(a.shape, []).append(int(i))
            else:
                layout[i] = layout_agreement(a, b, shift=rule.shift)
        for group in same_shape.values():
            for at in range(0, len(group), _PAIRS_PER_STEP):
                step = group[at : at + _PAIRS_PER_STEP]
                grids_a = np.stack([tokens[int(matches.pairs[i, 0])] for i in step])
                grids_b = np.stack([tokens[int(matches.pairs[i, 1])] for i in step])
                layout[step] = _agreements(grids_a, grids_b, rule.shift)
    keep = ~(layout < rule.min_agreement)  # NaN (near, or not checkable) is kept
    kept: dict[str, np.ndarray] = {
        f.name: getattr(matches, f.name)[keep] for f in dataclasses.fields(matches) if f.name != "layout"
    }
    return Matches(**kept, layout=layout[keep])
