"""The tier rules: which candidate pairs are `near` or `similar` duplicates, and why.

- near: best pHash distance over windows (crops from any side) and symmetries (turns,
  mirrors) <= `near_hash_distance` (of 64 bits) AND at that alignment, refined, at least
  `near_patch_agreement` of the 16 patches agree. Both signals must hold; neither depends
  on model weights.
- contained: the best-fitting alignment puts the whole of the smaller picture on an inset
  of the larger (a rectangle framed by straight edges: a screenshot's content, a collage
  tile, a photo on a margin or a backdrop; `pixseek.media.insets`) keeping less than
  `_WHOLE_SIDE` of at least one of its sides; its hash within `near_hash_distance` AND at
  least `contained_patch_agreement` of the patches with detail agree there. An inset
  nearly the whole picture is judged as a near copy.
- similar: not near nor contained, and CLS cosine similarity >= `similar_threshold`. Only with
  pretrained weights: random weights make every CLS vector alike. Detection then checks
  each such pair's layout on its patch tokens (`layout.py`) and drops those that disagree.
- exact (same sha256) is decided from the catalog, not here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from pixseek.core.settings import Settings
from pixseek.index.catalog.duplicates import Kind
from pixseek.media.perceptual_hash import (
    GRID,
    HASH_BYTES,
    TURNS,
    PairScores,
    compare_many,
    describe,
    is_inset,
    window_boxes,
)

# Exact copies are found from the catalog's sha256 column, not by these rules; their reason.
EXACT_REASON = "exact: same bytes (sha256)"
# An inset keeping at least this share of both sides is the whole picture, give or take a frame.
_WHOLE_SIDE = 0.95


class Rows(Protocol):
    """Anything indexed by an array of rows: a numpy array, a memmap, thumbnails read from SQL."""

    def __getitem__(self, rows: np.ndarray, /) -> np.ndarray: ...


def similar_reason(cosine: float, layout: float | None) -> str:
    """Why a pair is `similar`: its CLS cosine, and its layout agreement when checked
    (`layout` None: no check ran; NaN: no patch tokens to check)."""
    reason = f"similar: CLS cosine {cosine:.3f}"
    if layout is None:
        return reason
    if np.isnan(layout):
        return f"{reason}; layout not checked (no patch tokens)"
    return f"{reason}, layout agreement {layout:.2f} (patch tokens in place)"


@dataclass(frozen=True)
class Rules:
    near_hash_distance: int = 12
    near_patch_agreement: float = 0.75
    contained_patch_agreement: float = 0.7
    similar_threshold: float | None = 0.9  # None: the similar tier is off

    @classmethod
    def of(cls, settings: Settings) -> Rules:
        """The configured rules; no `similar` tier with random weights."""
        cfg = settings.duplicates
        return cls(
            near_hash_distance=cfg.near_hash_distance,
            near_patch_agreement=cfg.near_patch_agreement,
            contained_patch_agreement=cfg.contained_patch_agreement,
            similar_threshold=None if settings.random_weights else cfg.similar_threshold,
        )


@dataclass
class Matches:
    """Matched pairs of rows, one entry per pair, best signals kept."""

    pairs: np.ndarray  # (M, 2) int64, i < j
    kinds: np.ndarray  # (M,) str: "near", "contained" or "similar"
    scores: np.ndarray  # (M,) float32: 1 - distance/64 for near and contained, cosine for similar
    distance: np.ndarray  # (M,) int32
    agreement: np.ndarray  # (M,) float32
    cls: np.ndarray  # (M,) float32, NaN when the pair was not a CLS candidate
    big: np.ndarray  # (M,) 0: the second image is a window of the first; 1: the other way round
    window: np.ndarray  # (M,) row of perceptual_hash.WINDOWS
    turn: np.ndarray  # (M,) symmetry of the smaller picture (perceptual_hash.TURNS)
    box: np.ndarray  # (M, 4) float64: where the smaller picture sits in the larger (x0, y0, x1, y1 shares)
    # (M,) float32 layout agreement of similar pairs (layout.py), NaN where not checkable;
    # None when no layout check ran.
    layout: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.pairs)

    def subset(self, keep: np.ndarray) -> Matches:
        """The pairs where `keep` (a boolean mask) is True."""
        kept: dict[str, np.ndarray] = {
            f.name: getattr(self, f.name)[keep] for f in dataclasses.fields(self) if f.name != "layout"
        }
        return Matches(**kept, layout=None if self.layout is None else self.layout[keep])

    def container(self, i: int) -> int | None:
        """0 or 1: which image of contained pair `i` holds the other; None for other tiers."""
        return int(self.big[i]) if self.kinds[i] == Kind.CONTAINED else None

    def reason(self, i: int, names: tuple[str, str] = ("a", "b"), size: tuple[int, int] | None = None) -> str:
        """Why pair `i` matched; `names` label its two images in the crop note; `size` is the
        larger one's (width, height) for a contained pair's position in pixels."""
        if self.kinds[i] == Kind.SIMILAR:
            return similar_reason(float(self.cls[i]), None if self.layout is None else float(self.layout[i]))
        agree = round(float(self.agreement[i]) * GRID * GRID)
        hashes = f"pHash distance {int(self.distance[i])}/{8 * HASH_BYTES}"
        if self.kinds[i] == Kind.CONTAINED:
            large, small = (names[1], names[0]) if self.big[i] else names
            turned = f" ({TURNS[int(self.turn[i])]})" if TURNS[int(self.turn[i])] else ""
            at = where(self.box[i], size)
            return (
                f"contained: the whole of {small}{turned} appears inside {large} at {at}; "
                f"{hashes}; {agree}/{GRID * GRID} patches agree"
            )
        parts = [hashes]
        how = describe(self.box[i], int(self.turn[i]))
        if how:
            large, small = (names[1], names[0]) if self.big[i] else names
            parts.append(f"{small} is {large} {how}")
        return f"near: {', '.join(parts)}; {agree}/{GRID * GRID} patches agree"


def where(box: np.ndarray, size: tuple[int, int] | None) -> str:
    """A box as "x,y,w,h" in pixels of a picture of `size`, or in percent of its sides."""
    x0, y0, x1, y1 = (float(v) for v in box)
    if size is None:
        return f"x,y,w,h {x0:.0%},{y0:.0%},{x1 - x0:.0%},{y1 - y0:.0%} of its sides"
    w, h = size
    left, top = round(x0 * w), round(y0 * h)
    return f"x,y,w,h {left},{top},{round(x1 * w) - left},{round(y1 * h) - top}"


def inset_alignments(
    scores: PairScores, codes_a: np.ndarray, codes_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(P,) whether each pair's best fit is a true inset (not the whole picture), and (P, 4) its box.

    `scores` compares codes_a[i] with codes_b[i]; the box is where the smaller picture sits
    in the larger (a grid window's, or an inset's).
    """
    larger = np.where(scores.big.astype(bool)[:, None, None], codes_b, codes_a)
    box = window_boxes(larger, scores.window)
    smaller_side = np.minimum(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])
    return is_inset(scores.window) & (smaller_side < _WHOLE_SIDE), box


def merge_candidates(
    hash_pairs: np.ndarray, cls_pairs: np.ndarray, cls_scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The union of both candidate lists, with the CLS score where known (NaN elsewhere)."""
    all_pairs = np.concatenate([hash_pairs.reshape(-1, 2), cls_pairs.reshape(-1, 2)]).astype(np.int64)
    scores = np.concatenate(
        [np.full(len(hash_pairs), np.nan, dtype=np.float32), cls_scores.astype(np.float32)]
    )
    if len(all_pairs) == 0:
        return np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=np.float32)
    # Sort so that, per pair, a known CLS score comes first; NaN sorts last.
    order = np.lexsort((np.isnan(scores), all_pairs[:, 1], all_pairs[:, 0]))
    all_pairs, scores = all_pairs[order], scores[order]
    first = np.ones(len(all_pairs), dtype=bool)
    first[1:] = np.any(all_pairs[1:] != all_pairs[:-1], axis=1)
    return all_pairs[first], scores[first]


def classify(
    pairs: np.ndarray,
    cls_scores: np.ndarray,
    codes: np.ndarray,
    thumbs: Rows,
    rules: Rules,
    *,
    batch: int = 20_000,
) -> Matches:
    """Apply the tier rules to candidate pairs; returns only the pairs that match a tier.

    `codes` (N, CODE_ROWS, 8) and `thumbs` (N, 64, 64) are indexed by the pairs' rows;
    they may be memory-mapped, only the rows of one batch are read at a time.
    """
    kept: list[dict[str, np.ndarray]] = []
    for start in range(0, len(pairs), batch):
        part = pairs[start : start + batch]
        cls = cls_scores[start : start + batch]
        a, b = part[:, 0], part[:, 1]
        codes_a, codes_b = codes[a], codes[b]
        s = compare_many(codes_a, thumbs[a], codes_b, thumbs[b])
        inset, box = inset_alignments(s, codes_a, codes_b)
        close = s.distance <= rules.near_hash_distance
        contained = close & inset & (s.agreement >= rules.contained_patch_agreement)
        near = close & ~inset & (s.agreement >= rules.near_patch_agreement)
        similar = np.zeros_like(near)
        if rules.similar_threshold is not None:
            similar = ~near & ~contained & ~np.isnan(cls) & (cls >= rules.similar_threshold)
        keep = near | contained | similar
        near_score = 1.0 - s.distance.astype(np.float32) / (8 * HASH_BYTES)
        kinds = np.where(near, Kind.NEAR.value, np.where(contained, Kind.CONTAINED.value, Kind.SIMILAR.value))
        kept.append(
            {
                "pairs": part[keep],
                "kinds": kinds[keep],
                "scores": np.where(near | contained, near_score, np.nan_to_num(cls))[keep].astype(np.float32),
                "distance": s.distance[keep],
                "agreement": s.agreement[keep],
                "cls": cls[keep],
                "big": s.big[keep],
                "window": s.window[keep],
                "turn": s.turn[keep],
                "box": box[keep],
            }
        )
    if not kept:
        empty = np.empty(0)
        return Matches(
            pairs=np.empty((0, 2), dtype=np.int64),
            kinds=empty.astype(str),
            scores=empty.astype(np.float32),
            distance=empty.astype(np.int32),
            agreement=empty.astype(np.float32),
            cls=empty.astype(np.float32),
            big=empty.astype(np.int64),
            window=empty.astype(np.int64),
            turn=empty.astype(np.int64),
            box=np.empty((0, 4)),
        )
    return Matches(**{name: np.concatenate([k[name] for k in kept]) for name in kept[0]})
