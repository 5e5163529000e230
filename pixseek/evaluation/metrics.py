"""Retrieval and localisation metrics: plain functions over ranked keys and boxes.

`recall@k` here is the retrieval benchmarks' definition (open_clip's COCO and Flickr30k
tables, Immich's Crossmodal-3600): the share of queries with at least one relevant image
in the top k, so figures compare with theirs.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

Box = Sequence[float]  # x0, y0, x1, y1


def hit_at(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """1.0 when a relevant key is among the first `k`, else 0.0."""
    return 1.0 if any(key in relevant for key in ranked[:k]) else 0.0


def reciprocal_rank(ranked: Sequence[str], relevant: Collection[str]) -> float:
    """1 / rank of the first relevant key (0.0 when none is ranked)."""
    for rank, key in enumerate(ranked, 1):
        if key in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Normalised discounted cumulative gain at `k`, with gain 1 per relevant key."""
    dcg = sum(1.0 / math.log2(rank + 1) for rank, key in enumerate(ranked[:k], 1) if key in relevant)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(relevant), k) + 1))
    return dcg / ideal if ideal else 0.0


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def inside(point: tuple[float, float], box: Box) -> bool:
    x, y = point
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def ranking_metrics(rankings: Sequence[tuple[Sequence[str], Collection[str]]]) -> dict[str, float]:
    """recall@1/5/10, MRR (over the ranked depth) and nDCG@10, averaged over queries."""
    n = len(rankings)
    if n == 0:
        return {}
    return {
        "recall@1": sum(hit_at(r, rel, 1) for r, rel in rankings) / n,
        "recall@5": sum(hit_at(r, rel, 5) for r, rel in rankings) / n,
        "recall@10": sum(hit_at(r, rel, 10) for r, rel in rankings) / n,
        "mrr": sum(reciprocal_rank(r, rel) for r, rel in rankings) / n,
        "ndcg@10": sum(ndcg_at(r, rel, 10) for r, rel in rankings) / n,
    }
