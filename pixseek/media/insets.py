"""Where another picture may sit inside this one: rectangles framed by straight edges.

A photo pasted into a larger picture (a screenshot with the app's bars around it, a
collage, a story post on a blurred backdrop, a letterboxed or padded copy) leaves a
rectangle of straight edges where its border meets the rest. Found at 256x256 (aspect
squashed, as the hashes squash it), in colour:

1. An **edge pixel** across a row boundary is one where the summed RGB difference of the
   two pixels is at least `_EDGE` and the largest within `_REACH` rows either way; a one
   pixel tolerance along the boundary keeps a step that JPEG or resampling split between
   two rows. Columns alike.
2. The `_LINES` rows (and columns) with the most edge pixels are the candidate sides; the
   picture's own borders are candidates too (a photo may touch one, as a letterboxed copy
   touches two).
3. Every rectangle of candidate sides keeping at least `_MIN_SIDE` of each side (never the
   whole picture) is scored by the share of edge pixels along each of its four sides, on
   its own span only (a side on the picture's border counts `_BORDER_SUPPORT`, so that a
   letterboxed photo, two sides on the border, still ranks): the weakest side plus the
   mean of the four.
4. The best `INSETS` rectangles, each at least `_APART` of a side from the ones kept, are
   returned; missing ones are the whole picture (which matches as the whole-picture hash).

Straight lines inside a photo (a horizon, a table's edge) make rectangles too; they cost a
slot each, and the comparison, not this module, decides what matches. About 15-20 ms a
picture on one core.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

INSETS = 8  # rectangles kept per picture
WHOLE = np.array([0.0, 0.0, 1.0, 1.0])
_SIDE = 256
_EDGE = 15.0
_REACH = 2
_LINES = 10
_LINE_MIN = 0.15  # a candidate line has edge pixels along at least this share of the picture
_MIN_SIDE = 0.4
_BORDER_SUPPORT = 0.7
_APART = 0.02


def _edge_pixels(steps: np.ndarray) -> np.ndarray:
    """(B, L) boundary strengths to 0/1 edge pixels: strong, the peak across, tolerant along."""
    padded = np.pad(steps, ((_REACH, _REACH), (0, 0)))
    peak = np.max(np.stack([padded[k : k + len(steps)] for k in range(2 * _REACH + 1)]), axis=0)
    edge = ((steps >= peak) & (steps >= _EDGE)).astype(np.float32)
    tolerant = edge.copy()
    tolerant[1:] = np.maximum(tolerant[1:], edge[:-1])
    tolerant[:-1] = np.maximum(tolerant[:-1], edge[1:])
    return tolerant


def _lines(edges: np.ndarray) -> np.ndarray:
    """Candidate positions (0.._SIDE) along one axis: the strongest boundaries, and both borders."""
    profile = edges.sum(axis=1)
    found = [0, _SIDE]
    for _ in range(_LINES):
        i = int(profile.argmax())
        if profile[i] <= _LINE_MIN * _SIDE:
            break
        found.append(i + 1)  # boundary i lies between pixel rows i and i + 1
        profile[max(0, i - 3) : i + 4] = -1.0
    return np.unique(np.array(found))


def _support(cumulative: np.ndarray, line: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Share of edge pixels on boundary `line` between `lo` and `hi`; borders get `_BORDER_SUPPORT`."""
    inner = (line > 0) & (line < _SIDE)
    row = np.clip(line - 1, 0, _SIDE - 2)
    share = (cumulative[row, hi] - cumulative[row, lo]) / np.maximum(hi - lo, 1)
    return np.where(inner, share, _BORDER_SUPPORT)


def find_insets(img: Image.Image) -> np.ndarray:
    """(INSETS, 4) float64 rectangles (x0, y0, x1, y1) as shares of the sides, best first."""
    rgb = np.asarray(img.convert("RGB").resize((_SIDE, _SIDE), Image.Resampling.BOX), dtype=np.float32)
    across_rows = _edge_pixels(np.abs(rgb[1:] - rgb[:-1]).sum(axis=-1))  # (S-1 boundaries, S columns)
    across_cols = _edge_pixels(np.abs(rgb[:, 1:] - rgb[:, :-1]).sum(axis=-1).T)  # (S-1, S rows)
    zero = np.zeros((_SIDE - 1, 1), dtype=np.float32)
    sum_rows = np.concatenate([zero, np.cumsum(across_rows, axis=1)], axis=1)
    sum_cols = np.concatenate([zero, np.cumsum(across_cols, axis=1)], axis=1)
    ys, xs = _lines(across_rows), _lines(across_cols)
    span = int(np.ceil(_MIN_SIDE * _SIDE))
    y0, y1 = (a.ravel() for a in np.meshgrid(ys, ys, indexing="ij"))
    x0, x1 = (a.ravel() for a in np.meshgrid(xs, xs, indexing="ij"))
    tall, wide = y1 - y0 >= span, x1 - x0 >= span
    y0, y1, x0, x1 = y0[tall], y1[tall], x0[wide], x1[wide]
    out = [WHOLE] * INSETS
    if not len(y0) or not len(x0):
        return np.stack(out)
    # Every (rows, columns) combination: (Y, X) arrays.
    Y0, X0 = np.meshgrid(y0, x0, indexing="ij")
    Y1, X1 = np.meshgrid(y1, x1, indexing="ij")
    sides = np.stack(
        [
            _support(sum_rows, Y0, X0, X1),
            _support(sum_rows, Y1, X0, X1),
            _support(sum_cols, X0, Y0, Y1),
            _support(sum_cols, X1, Y0, Y1),
        ]
    )
    score = sides.min(axis=0) + sides.mean(axis=0)
    whole = (Y0 == 0) & (X0 == 0) & (Y1 == _SIDE) & (X1 == _SIDE)
    score[whole] = -np.inf
    boxes = np.stack([X0, Y0, X1, Y1], axis=-1).reshape(-1, 4) / _SIDE
    kept: list[np.ndarray] = []
    for i in np.argsort(-score.ravel(), kind="stable"):
        if len(kept) == INSETS or not np.isfinite(score.flat[i]):
            break
        if any(np.abs(boxes[i] - k).max() <= _APART for k in kept):
            continue
        kept.append(boxes[i])
    return np.stack(kept + out[len(kept) :])
