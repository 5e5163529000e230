"""Explain hits: each hit's cosine score split into one contribution per query part."""

from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session

from pixseek.core.settings import Settings
from pixseek.model.identity import ModelId
from pixseek.search import semantic
from pixseek.search.query import Hit, PartScore, explain
from pixseek.search.resolve import Resolved


def explain_hits(
    session: Session,
    settings: Settings,
    hits: list[Hit],
    resolved: Resolved,
    vectors: dict[int, np.ndarray] | None = None,
) -> None:
    """Attach each hit's score per query part, from its stored vector (`vectors` when read already)."""
    if vectors is None:
        vectors = semantic.vectors_by_id(session, [h.id for h in hits], ModelId.of(settings).key)
    with_vector = [h for h in hits if h.id in vectors]
    if not with_vector:
        return
    sims, contributions = explain(resolved.combined, np.stack([vectors[h.id] for h in with_vector]))
    for row, hit in enumerate(with_vector):
        hit.parts = [
            PartScore(
                part=p,
                label=resolved.labels[p],
                weight=float(resolved.combined.weights[p]),
                similarity=float(sims[row, p]),
                contribution=float(contributions[row, p]),
            )
            for p in range(len(resolved.labels))
        ]
