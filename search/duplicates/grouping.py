"""Pairs to groups, without chaining: every member matches its group's keeper directly.

The rule (star clustering around the keeper): visit images best keeper first; an image
not yet grouped that has ungrouped matches becomes a keeper, and exactly those matches
join its group. So A~B and B~C never put A and C together unless one of them is the
keeper and matched the other itself; a weak link between two members cannot merge groups.

Tiers nest: copies with the same bytes form `exact` groups and are represented by their
keeper in the `near` step; `near` groups are represented by their keeper in the `similar`
step. So a `similar` group never repeats a `near` one, and `near` never lists exact copies.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Star:
    keeper: int
    members: dict[int, Any] = field(default_factory=dict)  # member id -> the keeper-member edge


def star_groups(edges: Iterable[tuple[int, int, Any]], rank: Callable[[int], Any]) -> list[Star]:
    """Groups from undirected edges (a, b, payload); `rank(id)` sorts best keeper first."""
    adjacency: dict[int, dict[int, Any]] = defaultdict(dict)
    for a, b, payload in edges:
        if a != b:
            adjacency[a][b] = payload
            adjacency[b][a] = payload
    grouped: set[int] = set()
    stars: list[Star] = []
    for node in sorted(adjacency, key=rank):
        if node in grouped:
            continue
        members = {other: p for other, p in adjacency[node].items() if other not in grouped}
        if not members:
            continue
        grouped.add(node)
        grouped.update(members)
        stars.append(Star(keeper=node, members=members))
    return stars


def classes(items: Iterable[tuple[int, Hashable]]) -> list[list[int]]:
    """Ids sharing a key (e.g. sha256), for classes of two or more."""
    by_key: dict[Hashable, list[int]] = defaultdict(list)
    for image_id, key in items:
        by_key[key].append(image_id)
    return [sorted(ids) for ids in by_key.values() if len(ids) > 1]
