"""Reciprocal rank fusion: one ranking out of several, by rank alone (scores never mix)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

DEFAULT_K = 60


@dataclass
class Fused:
    id: int
    score: float = 0.0
    ranks: list[int | None] = field(default_factory=list)  # 1-based rank in each list, None if absent


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = DEFAULT_K) -> list[Fused]:
    """Fuse ranked id lists: score(d) = sum over lists of 1 / (k + rank of d), best first.

    Ties are broken by id, so the fused order is stable (Cormack et al., SIGIR 2009).
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    fused: dict[int, Fused] = {}
    for which, ranking in enumerate(rankings):
        for rank, item in enumerate(ranking, 1):
            entry = fused.get(item)
            if entry is None:
                entry = fused[item] = Fused(id=item, ranks=[None] * len(rankings))
            if entry.ranks[which] is None:  # an id listed twice counts at its best rank
                entry.ranks[which] = rank
                entry.score += 1.0 / (k + rank)
    return sorted(fused.values(), key=lambda f: (-f.score, f.id))
