"""The tier rules: which candidate pairs are `near` or `similar` duplicates, and why.

- near: best pHash distance over windows (crops from any side) and symmetries (turns,
  mirrors) <= `near_hash_distance` (of 64 bits) AND at that alignment, refined, at least
  `near_patch_agreement` of the 16 patches agree. Both signals must hold; neither depends
  on model weights.
- similar: not near, and CLS cosine similarity >= `similar_threshold`. Only with
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
from pixseek.media.perceptual_hash import GRID, HASH_BYTES, compare_many, describe

# Exact copies are found from the catalog's sha256 column, not by these rules; their reason.
EXACT_REASON = "exact: same bytes (sha256)"


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
    similar_threshold: float | None = 0.9  # None: the similar tier is off

    @classmethod
    def of(cls, settings: Settings) -> Rules:
        """The configured rules; no `similar` tier with random weights."""
        cfg = settings.duplicates
        return cls(
            near_hash_distance=cfg.near_hash_distance,
            near_patch_agreement=cfg.near_patch_agreement,
            similar_threshold=None if settings.random_weights else cfg.similar_threshold,
        )


@dataclass
class Matches:
    """Matched pairs of rows, one entry per pair, best signals kept."""

    pairs: np.ndarray  # (M, 2) int64, i < j
    kinds: np.ndarray  # (M,) str: "near" or "similar"
    scores: np.ndarray  # (M,) float32: 1 - distance/64 for near, cosine for similar
    distance: np.ndarray  # (M,) int32
    agreement: np.ndarray  # (M,) float32
    cls: np.ndarray  # (M,) float32, NaN when the pair was not a CLS candidate
    big: np.ndarray  # (M,) 0: the second image is a window of the first; 1: the other way round
    window: np.ndarray  # (M,) row of perceptual_hash.WINDOWS
    turn: np.ndarray  # (M,) symmetry of the smaller picture (perceptual_hash.TURNS)
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

    def reason(self, i: int, names: tuple[str, str] = ("a", "b")) -> str:
        """Why pair `i` matched; `names` label its two images in the crop note."""
        if self.kinds[i] == Kind.SIMILAR:
            return similar_reason(float(self.cls[i]), None if self.layout is None else float(self.layout[i]))
        parts = [f"pHash distance {int(self.distance[i])}/{8 * HASH_BYTES}"]
        how = describe(int(self.window[i]), int(self.turn[i]))
        if how:
            large, small = (names[1], names[0]) if self.big[i] else names
            parts.append(f"{small} is {large} {how}")
        agree = round(float(self.agreement[i]) * GRID * GRID)
        return f"near: {', '.join(parts)}; {agree}/{GRID * GRID} patches agree"


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
        s = compare_many(codes[a], thumbs[a], codes[b], thumbs[b])
        near = (s.distance <= rules.near_hash_distance) & (s.agreement >= rules.near_patch_agreement)
        similar = np.zeros_like(near)
        if rules.similar_threshold is not None:
            similar = ~near & ~np.isnan(cls) & (cls >= rules.similar_threshold)
        keep = near | similar
        near_score = 1.0 - s.distance.astype(np.float32) / (8 * HASH_BYTES)
        kept.append(
            {
                "pairs": part[keep],
                "kinds": np.where(near, Kind.NEAR.value, Kind.SIMILAR.value)[keep],
                "scores": np.where(near, near_score, np.nan_to_num(cls))[keep].astype(np.float32),
                "distance": s.distance[keep],
                "agreement": s.agreement[keep],
                "cls": cls[keep],
                "big": s.big[keep],
                "window": s.window[keep],
                "turn": s.turn[keep],
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
        )
    return Matches(**{name: np.concatenate([k[name] for k in kept]) for name in kept[0]})
