"""Open groups rebuilt from the stored pairs and the catalog's sha256 classes.

Every run replaces all open groups (their ids change); decided groups stay as they are,
and every pair a user decided on is left out, so it is never grouped again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from pixseek.core.settings import KeeperRule, Settings
from pixseek.index.catalog import SEARCHABLE, Image
from pixseek.index.duplicates import (
    DuplicateDecision,
    DuplicateGroup,
    DuplicateMember,
    DuplicatePair,
    GroupStatus,
    Kind,
    Role,
)
from pixseek.search.duplicates.grouping import Star, classes, star_groups
from pixseek.search.duplicates.keeper import ImageFacts, keeper_reason, rank_key
from pixseek.search.duplicates.matching import EXACT_REASON, Rules
from pixseek.search.duplicates.store import load_facts


def sha_pair(a: str, b: str) -> tuple[str, str]:
    """The key of a decision: two digests, smaller first."""
    return (a, b) if a <= b else (b, a)


@dataclass
class _Catalog:
    """What grouping reads: the images involved, the stored pairs and the decided sha pairs."""

    facts: dict[int, ImageFacts]
    sha: dict[int, str]
    exact: list[tuple[int, str]]  # (image id, sha256) of searchable images sharing their bytes
    pairs: list[tuple[int, int, str, float, str]]  # (a, b, kind, score, reason)
    decided: set[tuple[str, str]]


def _read(session: Session) -> _Catalog:
    decided = {(a, b) for a, b in session.execute(select(DuplicateDecision.sha_a, DuplicateDecision.sha_b))}
    dup_shas = select(Image.sha256).where(Image.status.in_(list(SEARCHABLE)), Image.sha256.is_not(None))
    dup_shas = dup_shas.group_by(Image.sha256).having(func.count() > 1)
    exact = [
        (int(i), str(s))
        for i, s in session.execute(
            select(Image.id, Image.sha256).where(
                Image.status.in_(list(SEARCHABLE)), Image.sha256.in_(dup_shas)
            )
        )
    ]
    pairs = [
        (int(a), int(b), str(kind), float(score), str(reason))
        for a, b, kind, score, reason in session.execute(
            select(
                DuplicatePair.image_a,
                DuplicatePair.image_b,
                DuplicatePair.kind,
                DuplicatePair.score,
                DuplicatePair.reason,
            )
        )
    ]
    involved = sorted({i for i, _ in exact} | {a for a, *_ in pairs} | {b for _, b, *_ in pairs})
    loaded = load_facts(session, involved)
    return _Catalog(
        facts={i: facts for i, (facts, _) in loaded.items()},
        sha={i: row.sha256 or "" for i, (_, row) in loaded.items()},
        exact=exact,
        pairs=pairs,
        decided=decided,
    )


def _exact_stars(
    catalog: _Catalog, rank: Callable[[int], tuple[float, ...]]
) -> tuple[list[Star], dict[int, int]]:
    """One star per class of identical bytes, and each copy's representative (its keeper)."""
    stars: list[Star] = []
    representative: dict[int, int] = {}
    for members in classes(catalog.exact):
        members = [m for m in members if m in catalog.facts]
        if len(members) < 2:
            continue
        sha = catalog.sha[members[0]]
        if sha_pair(sha, sha) in catalog.decided:
            continue
        members.sort(key=rank)
        keep = members[0]
        for other in members[1:]:
            representative[other] = keep
        stars.append(Star(keeper=keep, members={m: (1.0, EXACT_REASON) for m in members[1:]}))
    return stars, representative


def _edges(
    catalog: _Catalog, kind: Kind, mapping: dict[int, int]
) -> Iterable[tuple[int, int, tuple[float, str]]]:
    """Stored pairs of one tier between representatives: the best score per pair, decided ones left out."""
    best: dict[tuple[int, int], tuple[float, str]] = {}
    facts, sha = catalog.facts, catalog.sha
    for a, b, k, score, reason in catalog.pairs:
        if k != kind or a not in facts or b not in facts:
            continue
        if sha[a] == sha[b] or sha_pair(sha[a], sha[b]) in catalog.decided:
            continue
        ra, rb = mapping.get(a, a), mapping.get(b, b)
        if ra == rb:
            continue
        key = (min(ra, rb), max(ra, rb))
        if key not in best or score > best[key][0]:
            best[key] = (score, reason)
    return ((a, b, payload) for (a, b), payload in best.items())


def _write(
    session: Session, stars: list[tuple[Kind, Star]], catalog: _Catalog, order: list[KeeperRule]
) -> None:
    for kind, star in stars:
        group = DuplicateGroup(
            kind=kind.value,
            status=GroupStatus.OPEN,
            keeper_id=star.keeper,
            keeper_reason=keeper_reason(
                catalog.facts[star.keeper], [catalog.facts[m] for m in star.members], order
            ),
        )
        session.add(group)
        session.flush()
        session.add(
            DuplicateMember(
                group_id=group.id,
                image_id=star.keeper,
                position=0,
                role=Role.KEEP,
                score=1.0,
                reason=group.keeper_reason,
            )
        )
        ranked = sorted(star.members.items(), key=lambda item: (-item[1][0], item[0]))
        for position, (member, (score, reason)) in enumerate(ranked, 1):
            session.add(
                DuplicateMember(
                    group_id=group.id,
                    image_id=member,
                    position=position,
                    role=Role.MEMBER,
                    score=score,
                    reason=reason,
                )
            )


def regroup(session: Session, settings: Settings) -> dict[str, int]:
    """Rebuild every open group; returns the number of groups per tier."""
    order = settings.duplicates.keeper_order
    catalog = _read(session)

    def rank(image_id: int) -> tuple[float, ...]:
        return rank_key(catalog.facts[image_id], order)

    exact, representative = _exact_stars(catalog, rank)
    stars: list[tuple[Kind, Star]] = [(Kind.EXACT, s) for s in exact]
    # Near groups are built over one representative per exact class...
    near = star_groups(_edges(catalog, Kind.NEAR, representative), rank)
    stars.extend((Kind.NEAR, s) for s in near)
    # ...and similar groups over one per near group, so no tier repeats another.
    to_centre = dict(representative)
    for star in near:
        for member in star.members:
            to_centre[member] = star.keeper
    for member, keep in representative.items():
        to_centre[member] = to_centre.get(keep, keep)
    if Rules.of(settings).similar_threshold is not None:
        stars.extend((Kind.SIMILAR, s) for s in star_groups(_edges(catalog, Kind.SIMILAR, to_centre), rank))

    session.execute(delete(DuplicateGroup).where(DuplicateGroup.status == GroupStatus.OPEN))
    _write(session, stars, catalog, order)
    session.flush()
    counts = {kind.value: 0 for kind in Kind}
    for kind, _ in stars:
        counts[kind.value] += 1
    return counts
