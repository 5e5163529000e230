"""Perceptual signatures of a picture, in numpy and PIL, and how two of them compare.

A signature holds:

- `codes`, 64-bit DCT hashes (pHash: the 8x8 lowest frequencies of a 32x32 grey thumbnail,
  each bit "above the median"), in two families:
  - the whole picture under the 8 symmetries of the square (`DIHEDRAL` rows: as is,
    mirrored, flipped, rotated by 90, 180 and 270 degrees, transposed), read off one DCT:
    a mirror flips the sign of the odd horizontal frequencies, a flip of the odd vertical
    ones, a transpose transposes the block;
  - `WINDOWS` rows: windows of the picture anchored at every side, corner and the centre,
    keeping 100%, 90%, 80%, 70% or 60% of each side independently (13 x 13 = 169);
  - `INSETS` rows: the rectangles framed by straight edges where another picture may sit
    inside this one (`pixseek.media.insets`: a photo in a screenshot, a collage, on a
    margin or a backdrop), then `INSETS` rows that are not hashes but those rectangles
    themselves (4 uint16 shares of the sides each, `inset_boxes`).
- `thumb`, a 32x32 grey thumbnail of the whole picture (aspect squashed like the hashes).

A copy B of a picture A, cropped from any side or corner to 60-100% of either side,
turned or mirrored, resized and recompressed, has a whole-picture hash close to one of
A's window hashes under one symmetry; a picture B holding the whole of A somewhere inside
it has an inset hash close to A's whole-picture hash. Comparing two signatures finds the best of the
2 x (169 + 8) x 8 (window or inset, symmetry) alignments, both ways round (its Hamming distance is the
pair's `distance`); the three best are tried on the thumbnails, each window refined (its
edges moved by up to 2.5% of the side) and the best fit kept. There the two 32x32
thumbnails are cut into 4x4-pixel patches, each pair tested with a normalised
correlation, which ignores brightness and contrast changes (`patch_agreement`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from PIL import Image

from pixseek.media.insets import INSETS, WHOLE, find_insets

VERSION = 3
HASH_BYTES = 8
SIDES = (1.0, 0.9, 0.8, 0.7, 0.6)  # kept share of a side, per window axis
THUMB = 64  # side of the stored thumbnail
COMPARED = 32  # side of the thumbnails compared patch by patch
GRID = 8  # patches per side of the compared thumbnail
_BASE = 128  # side of the grey picture the window hashes are read from
_DCT_SIZE = 32
_LOW = 8
# A patch whose pixels vary less than this (L2 norm after removing the mean, grey levels)
# is flat: two flat patches agree, a flat and a textured one do not.
_FLAT_NORM = 8.0
_PATCH_NCC = 0.5
_MIN_DETAIL = 8  # patches with detail (of GRID*GRID) needed to judge on detail
# Window refinement: each edge moves by one of these shares of the side.
_NUDGES = (-0.025, 0.0, 0.025)
_TRIED = 3  # best hash alignments tried on the thumbnails
_REFINE_FROM = 0.3  # global correlation at the grid window below which a pair is not refined


def _axis_intervals() -> list[tuple[float, float]]:
    """(start, stop) shares of one axis: the whole, then each side kept from start, centre, end."""
    out = [(0.0, 1.0)]
    for side in SIDES[1:]:
        for start in (0.0, (1.0 - side) / 2, 1.0 - side):
            out.append((start, start + side))
    return out


INTERVALS = _axis_intervals()
# (x0, y0, x1, y1) shares of the picture; row 0 is the whole picture.
WINDOWS = np.array([(x[0], y[0], x[1], y[1]) for y, x in itertools.product(INTERVALS, INTERVALS)])
DIHEDRAL = 8
# Rows of a signature's codes: DIHEDRAL turned hashes, then the hashes a copy's whole
# picture may match (windows, then insets: `HASH_ROWS` in all), then the insets' boxes.
HASH_ROWS = DIHEDRAL + len(WINDOWS) + INSETS
CODE_ROWS = HASH_ROWS + INSETS
CODES_BYTES = CODE_ROWS * HASH_BYTES
THUMB_BYTES = THUMB * THUMB
# What each symmetry k does to a picture (see `turn`), for reasons shown to people.
TURNS = (
    "",
    "mirrored",
    "upside down",
    "rotated 180°",
    "transposed",
    "rotated 90°",
    "rotated 270°",
    "transposed and rotated 180°",
)


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    return np.cos(np.pi * (2 * i + 1) * k / (2 * n))


def box_matrix(start: np.ndarray, stop: np.ndarray, n_out: int, n_in: int) -> np.ndarray:
    """Averaging weights that resample the span [start, stop) (shares of n_in pixels) to n_out cells.

    `start`, `stop`: arrays of any shape S; returns S + (n_out, n_in). Each cell averages
    the input pixels it covers, fractions of a pixel included (PIL's BOX filter).
    """
    start, stop = np.asarray(start, dtype=np.float64), np.asarray(stop, dtype=np.float64)
    steps = np.arange(n_out + 1) / n_out
    edges = (start[..., None] + (stop - start)[..., None] * steps) * n_in  # S + (n_out+1,)
    lo, hi = edges[..., :-1, None], edges[..., 1:, None]
    pixel = np.arange(n_in, dtype=np.float64)
    overlap = np.clip(np.minimum(hi, pixel + 1) - np.maximum(lo, pixel), 0.0, None)
    return overlap / np.maximum(hi - lo, 1e-9)


_DCT_LOW = _dct_matrix(_DCT_SIZE)[:_LOW]
_STARTS = np.array([s for s, _ in INTERVALS])
_STOPS = np.array([e for _, e in INTERVALS])
# Per axis interval: the 8 lowest DCT rows of its 32-cell box resampling of the base picture.
_PROJECT = np.einsum("fc,icp->ifp", _DCT_LOW, box_matrix(_STARTS, _STOPS, _DCT_SIZE, _BASE))
# Per axis interval: its box resampling of a stored thumbnail to the compared size (WINDOWS
# row y * len(INTERVALS) + x spans interval x across and interval y down).
_SPANS = box_matrix(_STARTS, _STOPS, COMPARED, THUMB)
_ODD = np.where(np.arange(_LOW) % 2 == 1, -1.0, 1.0)


def turn(block: np.ndarray, k: int) -> np.ndarray:
    """Symmetry k (0-7) of a picture given as its last two axes (rows, columns)."""
    if k & 4:
        block = np.swapaxes(block, -1, -2)
    if k & 1:
        block = block[..., :, ::-1]
    if k & 2:
        block = block[..., ::-1, :]
    return block


def _turn_low(low: np.ndarray, k: int) -> np.ndarray:
    """Symmetry k of a picture, applied to its low DCT block instead of its pixels."""
    if k & 4:
        low = low.T
    if k & 1:
        low = low * _ODD[None, :]
    if k & 2:
        low = low * _ODD[:, None]
    return low


@dataclass(frozen=True)
class Signature:
    """The perceptual signature of one picture (see the module docstring)."""

    # (CODE_ROWS, 8) uint8: the DIHEDRAL whole-picture hashes, the windows', the insets',
    # then the insets' boxes
    codes: np.ndarray
    thumb: np.ndarray  # (THUMB, THUMB) uint8

    def codes_blob(self) -> bytes:
        return self.codes.tobytes()

    def thumbs_blob(self) -> bytes:
        return self.thumb.tobytes()


def unpack_codes(blobs: np.ndarray) -> np.ndarray:
    """(N, CODES_BYTES) uint8 rows to (N, CODE_ROWS, 8)."""
    return blobs.reshape(-1, CODE_ROWS, HASH_BYTES)


def _box_rows(boxes: np.ndarray) -> np.ndarray:
    """(K, 4) shares to (K, 8) uint8 code rows: 4 little-endian uint16 each."""
    quantised = np.rint(np.clip(boxes, 0.0, 1.0) * 65535).astype("<u2")
    return quantised.view(np.uint8).reshape(len(boxes), HASH_BYTES)


def inset_boxes(codes: np.ndarray) -> np.ndarray:
    """(..., INSETS, 4) float64 boxes (x0, y0, x1, y1) stored in codes (..., CODE_ROWS, 8).

    Rows that are no box (x1 <= x0 or y1 <= y0, as random codes in tests may be) read as
    the whole picture.
    """
    rows = np.ascontiguousarray(codes[..., HASH_ROWS:, :])
    boxes = rows.view("<u2").astype(np.float64) / 65535
    bad = (boxes[..., 2] <= boxes[..., 0]) | (boxes[..., 3] <= boxes[..., 1])
    return np.where(bad[..., None], WHOLE, boxes)


def window_boxes(codes: np.ndarray, window: np.ndarray) -> np.ndarray:
    """(P, 4) boxes of P alignments: row `window[i]` of WINDOWS, or an inset of `codes[i]`."""
    window = np.asarray(window)
    grid = WINDOWS[np.minimum(window, len(WINDOWS) - 1)]
    inset = np.clip(window - len(WINDOWS), 0, INSETS - 1)
    own = inset_boxes(codes)[np.arange(len(window)), inset]
    return np.where((window >= len(WINDOWS))[:, None], own, grid)


def is_inset(window: np.ndarray | int) -> np.ndarray:
    """Whether alignment rows (of WINDOWS, then the insets) are insets."""
    return np.asarray(window) >= len(WINDOWS)


def _bits(blocks: np.ndarray) -> np.ndarray:
    """(..., 8, 8) DCT blocks to (..., 8) packed hashes."""
    flat = blocks.reshape(*blocks.shape[:-2], _LOW * _LOW)
    above = flat > np.median(flat, axis=-1, keepdims=True)
    return np.packbits(above, axis=-1)


def signature(img: Image.Image) -> Signature:
    """The signature of a decoded picture (any size; colour is ignored)."""
    # BOX averages every source pixel: the result does not depend on the input size.
    base = np.asarray(img.convert("L").resize((_BASE, _BASE), Image.Resampling.BOX), dtype=np.float64)
    rows = np.einsum("yfp,pq->yfq", _PROJECT, base)  # (13, 8, 128): each y interval, its DCT rows
    low = np.einsum("yfq,xgq->yxfg", rows, _PROJECT).reshape(len(WINDOWS), _LOW, _LOW)
    turned = np.stack([_turn_low(low[0], k) for k in range(DIHEDRAL)])
    boxes = find_insets(img)
    project_x = np.einsum("fc,icp->ifp", _DCT_LOW, box_matrix(boxes[:, 0], boxes[:, 2], _DCT_SIZE, _BASE))
    project_y = np.einsum("fc,icp->ifp", _DCT_LOW, box_matrix(boxes[:, 1], boxes[:, 3], _DCT_SIZE, _BASE))
    # Two two-operand steps: a three-operand einsum loops over all five indices at once (20 ms).
    insets = np.einsum("ifq,igq->ifg", np.einsum("ifp,pq->ifq", project_y, base), project_x)
    codes = np.concatenate([_bits(turned), _bits(low), _bits(insets), _box_rows(boxes)])
    # The base is twice the thumbnail's side: 2x2 means are its BOX resampling, done without a
    # matrix product (BLAS threads in a decode thread contend with the model's, measured 6x slower).
    thumb = base.reshape(THUMB, _BASE // THUMB, THUMB, _BASE // THUMB).mean(axis=(1, 3))
    return Signature(codes=codes, thumb=np.clip(np.rint(thumb), 0, 255).astype(np.uint8))


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bit differences between packed codes, over the last axis (broadcasting)."""
    if a.shape[-1] == HASH_BYTES and b.shape[-1] == HASH_BYTES:
        # One 64-bit word per code: a single XOR and popcount each.
        wa = np.ascontiguousarray(a).view(np.uint64)[..., 0]
        wb = np.ascontiguousarray(b).view(np.uint64)[..., 0]
        return np.bitwise_count(np.bitwise_xor(wa, wb)).astype(np.int32)
    return np.bitwise_count(np.bitwise_xor(a, b)).sum(axis=-1, dtype=np.int32)


def best_alignment(codes_a: np.ndarray, codes_b: np.ndarray, top: int = 1) -> tuple[np.ndarray, ...]:
    """The `top` best (window, symmetry) alignments of P pairs of codes (P, CODE_ROWS, 8), both ways.

    Returns (distance, big, window, k), arrays of (P,) (or (P, top) when top > 1, best
    first): the Hamming distance; 0 when a window of a matches b under symmetry k, 1 when a
    window of b matches a; the window's row in `WINDOWS`; k.
    """
    n = len(codes_a)
    windows_a, windows_b = codes_a[:, DIHEDRAL:HASH_ROWS, None, :], codes_b[:, DIHEDRAL:HASH_ROWS, None, :]
    turned_a, turned_b = codes_a[:, None, :DIHEDRAL, :], codes_b[:, None, :DIHEDRAL, :]
    dist = np.stack([hamming(windows_a, turned_b), hamming(windows_b, turned_a)], axis=1)
    flat = dist.reshape(n, -1)
    if top == 1:
        best = flat.argmin(axis=1)
    else:
        best = np.argpartition(flat, top - 1, axis=1)[:, :top]
        best = np.take_along_axis(best, np.argsort(np.take_along_axis(flat, best, 1), axis=1), 1)
    big, rest = np.divmod(best, (HASH_ROWS - DIHEDRAL) * DIHEDRAL)
    window, k = np.divmod(rest, DIHEDRAL)
    return np.take_along_axis(flat, best.reshape(n, -1), 1).reshape(best.shape), big, window, k


@dataclass(frozen=True)
class PairScores:
    """How pairs of signatures compare at their best alignment (arrays of one entry per pair)."""

    distance: np.ndarray  # (P,) int32, best Hamming distance over windows and symmetries
    agreement: np.ndarray  # (P,) float32, share of agreeing patches at the best-fitting alignment
    big: np.ndarray  # (P,) 0: b is a window of a; 1: a is a window of b
    window: np.ndarray  # (P,) row of WINDOWS, before refinement
    turn: np.ndarray  # (P,) symmetry applied to the smaller one's picture


def compare_many(
    codes_a: np.ndarray, thumbs_a: np.ndarray, codes_b: np.ndarray, thumbs_b: np.ndarray, *, batch: int = 1024
) -> PairScores:
    """Compare P pairs of signatures given as arrays (codes (P, CODE_ROWS, 8), thumbs (P, 64, 64))."""
    parts = [
        _compare(
            codes_a[s : s + batch], thumbs_a[s : s + batch], codes_b[s : s + batch], thumbs_b[s : s + batch]
        )
        for s in range(0, len(codes_a), batch)
    ]
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return PairScores(empty.astype(np.int32), empty.astype(np.float32), empty, empty, empty)
    return PairScores(
        *(np.concatenate([getattr(p, name) for p in parts]) for name in PairScores.__annotations__)
    )


def _compare(
    codes_a: np.ndarray, thumbs_a: np.ndarray, codes_b: np.ndarray, thumbs_b: np.ndarray
) -> PairScores:
    # The few best hash alignments are each tried on the thumbnails, the best fit kept: the
    # best hash may point at a neighbouring window when a crop falls between two of the grid's.
    distances, bigs, windows, turns = best_alignment(codes_a, codes_b, top=_TRIED)
    pictures = (np.asarray(thumbs_a, dtype=np.float64), np.asarray(thumbs_b, dtype=np.float64))
    # Each picture halved to the compared size once, for whichever alignment makes it the smaller.
    halves = tuple(p.reshape(-1, COMPARED, 2, COMPARED, 2).mean(axis=(2, 4)) for p in pictures)
    codes = (codes_a, codes_b)
    tried = [_aligned(pictures, halves, codes, bigs[:, t], windows[:, t], turns[:, t]) for t in range(_TRIED)]
    pick = np.stack([ncc for _, _, ncc in tried], axis=1).argmax(axis=1)
    rows = np.arange(len(codes_a))
    window_thumbs = np.stack([w for w, _, _ in tried], axis=1)[rows, pick]
    targets = np.stack([t for _, t, _ in tried], axis=1)[rows, pick]
    return PairScores(
        distance=distances[:, 0].astype(np.int32),  # the best hash distance
        agreement=patch_agreement(window_thumbs, targets),
        big=bigs[rows, pick],
        window=windows[rows, pick],
        turn=turns[rows, pick],
    )


def _turn_each(blocks: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Symmetry k[i] of picture blocks[i], for (P, H, W) pictures (square)."""
    out = np.empty_like(blocks)
    for kk in np.unique(k):
        chosen = k == kk
        out[chosen] = turn(blocks[chosen], int(kk))
    return out


def _aligned(
    pictures: tuple[np.ndarray, np.ndarray],
    halves: tuple[np.ndarray, np.ndarray],
    codes: tuple[np.ndarray, np.ndarray],
    big: np.ndarray,
    window: np.ndarray,
    k: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(window thumbnails of the larger, the smaller turned by k, their correlation) at one alignment.

    `pictures`: both sides' (P, 64, 64) thumbnails as float64; `halves`: the same halved to
    32x32; `codes`: both sides' codes (an inset's box is stored in its picture's codes).
    """
    swap = big.astype(bool)[:, None, None]
    large = np.where(swap, pictures[1], pictures[0])
    # The smaller picture, halved to the compared size and turned the way its hash matched.
    target = _turn_each(np.where(swap, halves[0], halves[1]), k)
    grid = np.minimum(window, len(WINDOWS) - 1)
    n_intervals = len(INTERVALS)
    ax, ay = _SPANS[grid % n_intervals], _SPANS[grid // n_intervals]
    inset = is_inset(window)
    if inset.any():
        large_codes = np.where(swap[inset], codes[1][inset], codes[0][inset])
        own = window_boxes(large_codes, window[inset])
        ax[inset] = box_matrix(own[:, 0], own[:, 2], COMPARED, THUMB)
        ay[inset] = box_matrix(own[:, 1], own[:, 3], COMPARED, THUMB)
    boxes = window_boxes(np.where(swap, codes[1], codes[0]), window) if inset.any() else WINDOWS[window]
    window_thumbs = np.matmul(np.matmul(ay, large), np.swapaxes(ax, -1, -2))
    # Refining costs 18 resamplings: only pairs that already look alike at the grid window
    # (most candidates of a large collection do not) are refined.
    ncc = _ncc(window_thumbs, target)
    alike = ncc >= _REFINE_FROM
    if alike.any():
        window_thumbs[alike] = _refined_windows(large[alike], boxes[alike], target[alike])
        ncc[alike] = _ncc(window_thumbs[alike], target[alike])
    return window_thumbs, target, ncc


def _ncc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Normalised correlation of (P, H, W) thumbnails, pair by pair."""
    fa = a.reshape(len(a), -1) - a.reshape(len(a), -1).mean(axis=1, keepdims=True)
    fb = b.reshape(len(b), -1) - b.reshape(len(b), -1).mean(axis=1, keepdims=True)
    norms = np.maximum(np.linalg.norm(fa, axis=1) * np.linalg.norm(fb, axis=1), 1e-6)
    return np.asarray((fa * fb).sum(axis=1) / norms)


def _refined_windows(large: np.ndarray, boxes: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(P, 32, 32) thumbnails of the windows `boxes` of `large`, edges nudged to fit `target` best.

    The left and right edges are nudged first (9 ways, the window's height as found), then
    the top and bottom (9 ways): 18 trials per pair, the best normalised correlation wins.
    """
    n = len(large)
    nudges = np.array(list(itertools.product(_NUDGES, _NUDGES)))  # (9, 2): start and stop moves
    want = target.reshape(n, 1, -1).astype(np.float32)
    want = want - want.mean(axis=-1, keepdims=True)
    want /= np.maximum(np.linalg.norm(want, axis=-1, keepdims=True), 1e-6)
    large = large.astype(np.float32)

    def spans(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:  # (P, 9, 32, 64)
        start = np.clip(lo[:, None] + nudges[None, :, 0], 0.0, 1.0)
        stop = np.clip(hi[:, None] + nudges[None, :, 1], 0.0, 1.0)
        return box_matrix(start, stop, COMPARED, THUMB).astype(np.float32)

    def best(cand: np.ndarray) -> np.ndarray:  # (P, 9, 32, 32) -> index of the best trial
        flat = cand.reshape(n, len(nudges), -1)
        flat = flat - flat.mean(axis=-1, keepdims=True)
        norm = np.maximum(np.linalg.norm(flat, axis=-1), 1e-6)
        return ((flat * want).sum(-1) / norm).argmax(axis=1)

    rows_p = np.arange(n)
    ax, ay = spans(boxes[:, 0], boxes[:, 2]), spans(boxes[:, 1], boxes[:, 3])
    column = np.swapaxes(ax, -1, -2)  # (P, 9, 64, 32)
    kept_y = ay[:, 4]  # the unnudged rows (nudge (0, 0) is the middle of the nine)
    by_x = np.matmul(np.matmul(kept_y, large)[:, None], column)  # (P, 9, 32, 32)
    chosen_x = column[rows_p, best(by_x)]  # (P, 64, 32)
    by_y = np.matmul(np.matmul(ay, large[:, None]), chosen_x[:, None])  # (P, 9, 32, 32)
    return by_y[rows_p, best(by_y)]


def _patches(thumbs: np.ndarray) -> np.ndarray:
    """(P, 32, 32) to (P, GRID*GRID, pixels per patch)."""
    p = COMPARED // GRID
    return thumbs.reshape(-1, GRID, p, GRID, p).swapaxes(2, 3).reshape(-1, GRID * GRID, p * p)


def patch_agreement(thumbs_a: np.ndarray, thumbs_b: np.ndarray) -> np.ndarray:
    """Share of aligned 4x4-pixel patches that agree, counted where the pictures have detail.

    A patch pair agrees when its normalised correlation is at least 0.5 (brightness and
    contrast changes do not matter). Patches flat in both pictures say nothing about
    whether two pictures are one (two plain skies agree with anything): they are left out,
    as long as at least `_MIN_DETAIL` patches have detail. A picture flatter than that is
    also judged on its coarse layout (each patch's mean, standardised over the picture,
    within half a standard deviation of the other's): the lower of the two shares counts.
    """
    pa, pb = _patches(thumbs_a), _patches(thumbs_b)
    ma, mb = pa.mean(axis=-1), pb.mean(axis=-1)
    ca, cb = pa - ma[..., None], pb - mb[..., None]
    na, nb = np.linalg.norm(ca, axis=-1), np.linalg.norm(cb, axis=-1)
    ncc = (ca * cb).sum(axis=-1) / np.maximum(na * nb, 1e-6)
    detail = (na >= _FLAT_NORM) | (nb >= _FLAT_NORM)
    textured = np.where(detail, ncc >= _PATCH_NCC, False).sum(axis=-1) / np.maximum(detail.sum(axis=-1), 1)
    za = (ma - ma.mean(axis=-1, keepdims=True)) / np.maximum(ma.std(axis=-1, keepdims=True), 1.0)
    zb = (mb - mb.mean(axis=-1, keepdims=True)) / np.maximum(mb.std(axis=-1, keepdims=True), 1.0)
    layout = (np.abs(za - zb) < 0.5).mean(axis=-1)
    # A flat picture with a few details (one thing on a plain background) must agree on
    # those details too: the layout alone would match any thing at the same place.
    some = detail.sum(axis=-1)
    flat_picture = np.where(some > 0, np.minimum(textured, layout), layout)
    return np.where(some >= _MIN_DETAIL, textured, flat_picture).astype(np.float32)


def describe(box: np.ndarray, k: int) -> str:
    """How the smaller picture sits in the larger: "crop 60% x 80% from the top left, rotated 90°".

    `box`: (x0, y0, x1, y1) shares of the larger picture (a row of WINDOWS, or an inset).
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    parts = []
    if (x1 - x0, y1 - y0) != (1.0, 1.0):
        horizontal = "left" if x0 == 0.0 and x1 < 1.0 else "right" if x1 == 1.0 and x0 > 0.0 else ""
        vertical = "top" if y0 == 0.0 and y1 < 1.0 else "bottom" if y1 == 1.0 and y0 > 0.0 else ""
        where = " ".join(p for p in (vertical, horizontal) if p) or "centre"
        parts.append(f"crop {x1 - x0:.0%} x {y1 - y0:.0%} from the {where}")
    if TURNS[k]:
        parts.append(TURNS[k])
    return ", ".join(parts)
