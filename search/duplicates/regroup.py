"""Open groups rebuilt from the stored pairs and the catalog's sha256 classes.

One group per picture: its byte-identical copies, its near copies, the larger pictures
that hold the whole of it (contained: screenshots, collages, padded copies) and (with
pretrained weights) other photos of the same scene, each member labelled with its tier relative to
the keeper; the group's kind is its strongest link.

Every run replaces all open groups (their ids change); decided groups stay as they are,
and every pair a user decided on is left out, so it is never grouped again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from pixseek.core.settings import KeeperRule, Settings
from pixseek.index.catalog.duplicates import (
    DuplicateDecision,
    DuplicateGroup,
    DuplicateMember,
    DuplicatePair,
    GroupStatus,
    Kind,
    Role,
)
from pixseek.index.catalog.events import record_event
from pixseek.index.catalog.images import SEARCHABLE, Image
from pixseek.search.duplicates.grouping import classes, star_groups
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
    pairs: list[tuple[int, int, str, float, str, int | None]]  # (a, b, kind, score, reason, container)
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
        (int(a), int(b), str(kind), float(score), str(reason), None if holder is None else int(holder))
        for a, b, kind, score, reason, holder in session.execute(
            select(
                DuplicatePair.image_a,
                DuplicatePair.image_b,
                DuplicatePair.kind,
                DuplicatePair.score,
                DuplicatePair.reason,
                DuplicatePair.container,
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


TIER_ORDER = (Kind.EXACT, Kind.NEAR, Kind.CONTAINED, Kind.SIMILAR)  # strongest first


@dataclass
class _Group:
    """One group in the making: its keeper and every other member's (tier, score, reason)."""

    keeper: int
    members: dict[int, tuple[Kind, float, str]] = field(default_factory=dict)

    @property
    def kind(self) -> Kind:
        """The group's strongest link."""
        return min((tier for tier, _, _ in self.members.values()), key=TIER_ORDER.index)


def _exact_classes(catalog: _Catalog, rank: Callable[[int], tuple[float, ...]]) -> dict[int, list[int]]:
    """Representative (best copy) -> its byte-identical copies, for undecided classes."""
    out: dict[int, list[int]] = {}
    for members in classes(catalog.exact):
        members = [m for m in members if m in catalog.facts]
        if len(members) < 2 or sha_pair(catalog.sha[members[0]], catalog.sha[members[0]]) in catalog.decided:
            continue
        members.sort(key=rank)
        out[members[0]] = members[1:]
    return out


def _undecided(catalog: _Catalog, a: int, b: int) -> bool:
    """Both images searchable, different bytes, and no decision of the user on the pair."""
    facts, sha = catalog.facts, catalog.sha
    if a not in facts or b not in facts:
        return False
    return sha[a] != sha[b] and sha_pair(sha[a], sha[b]) not in catalog.decided


def _edges(
    catalog: _Catalog, kind: Kind, mapping: dict[int, int]
) -> dict[tuple[int, int], tuple[float, str]]:
    """Stored pairs of one tier between representatives: the best score per pair, decided ones left out."""
    best: dict[tuple[int, int], tuple[float, str]] = {}
    for a, b, k, score, reason, _ in catalog.pairs:
        if k != kind or not _undecided(catalog, a, b):
            continue
        ra, rb = mapping.get(a, a), mapping.get(b, b)
        if ra == rb:
            continue
        key = (min(ra, rb), max(ra, rb))
        if key not in best or score > best[key][0]:
            best[key] = (score, reason)
    return best


def _pictures(
    catalog: _Catalog, rank: Callable[[int], tuple[float, ...]]
) -> tuple[list[_Group], dict[int, int]]:
    """Every copy of one picture (exact and near) in one group; and each image's group keeper.

    Byte-identical copies are one node (their best copy). Near copies form stars around the
    best keeper (every member matched it directly); a copy that matched only a member of a
    star (not its keeper) joins that star too, one hop at most, so no chain of edits grows
    a group beyond the copies of its keeper's picture.
    """
    twins = _exact_classes(catalog, rank)
    representative = {copy: rep for rep, copies in twins.items() for copy in copies}
    near = _edges(catalog, Kind.NEAR, representative)
    # A picture that holds another whole (a screenshot, a collage) is made from it: never a
    # keeper before the pictures it holds, however large (its near copies would follow it).
    # A picture held by another is an original, whatever it holds itself (a crop that fits
    # one of its insets).
    holders, held = set(), set()
    for a, b, kind, _, _, holder in catalog.pairs:
        if kind == Kind.CONTAINED and holder in (a, b):
            holders.add(holder)
            held.add(b if holder == a else a)
    holders -= held

    def near_rank(image_id: int) -> tuple[float, ...]:
        return (float(image_id in holders), *rank(image_id))

    stars = star_groups(((a, b, p) for (a, b), p in near.items()), near_rank)
    centre: dict[int, int] = {}
    groups: dict[int, _Group] = {}
    for star in stars:
        group = _Group(keeper=star.keeper)
        for member, (score, reason) in star.members.items():
            group.members[member] = (Kind.NEAR, score, reason)
            centre[member] = star.keeper
        centre[star.keeper] = star.keeper
        groups[star.keeper] = group
    _absorb_stars(near, groups, centre)
    # One hop: a copy left out of every star, linked by a near pair to a star's member.
    hops: dict[int, tuple[float, int, str]] = {}
    for (a, b), (score, reason) in near.items():
        for node, other in ((a, b), (b, a)):
            if node in centre or other not in centre or other == centre[other]:
                continue
            if node not in hops or score > hops[node][0]:
                hops[node] = (score, other, reason)
    for node, (score, via, reason) in sorted(hops.items()):
        keeper = centre[via]
        note = f"{reason} (a copy of #{via}, itself near the keeper)"
        groups[keeper].members[node] = (Kind.NEAR, score, note)
        centre[node] = keeper
    # Byte-identical copies join their representative's group, with its tier.
    for rep, copies in twins.items():
        keeper = centre.setdefault(rep, rep)
        group = groups.setdefault(keeper, _Group(keeper=keeper))
        for copy in copies:
            if rep == keeper:
                group.members[copy] = (Kind.EXACT, 1.0, EXACT_REASON)
            else:
                _, score, reason = group.members[rep]
                group.members[copy] = (Kind.NEAR, score, f"{reason} (same bytes as #{rep})")
            centre[copy] = keeper
    _containers(catalog, groups, centre, rank)
    return list(groups.values()), centre


def _absorb_stars(
    near: dict[tuple[int, int], tuple[float, str]], groups: dict[int, _Group], centre: dict[int, int]
) -> None:
    """A later star whose keeper and members all matched one member M of an earlier star joins it.

    Each of them is one hop from that star's keeper through M, as the one-hop rule allows
    for a copy left out of every star. It happens when the earlier keeper is a larger
    picture that holds the photo but matched only some of its copies (a collage matched
    through a crop window): the copies not near it made a star of their own.
    """

    neighbours: dict[int, set[int]] = {}
    for a, b in near:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    for keeper in list(groups):  # stars in the order they were made, best keeper first
        group = groups[keeper]
        best: tuple[float, int] | None = None
        for via in neighbours.get(keeper, ()):
            home = centre.get(via)
            if home is None or home in (via, keeper) or home not in groups:
                continue
            score = near[(min(via, keeper), max(via, keeper))][0]
            fits = all(n in neighbours[via] for n in group.members)
            if fits and (best is None or score > best[0]):
                best = (score, via)
        if best is None:
            continue
        via = best[1]
        home = centre[via]
        for node in [keeper, *group.members]:
            score, reason = near[(min(via, node), max(via, node))]
            groups[home].members[node] = (
                Kind.NEAR,
                score,
                f"{reason} (a copy of #{via}, itself near the keeper)",
            )
            centre[node] = home
        del groups[keeper]


def _containers(
    catalog: _Catalog,
    groups: dict[int, _Group],
    centre: dict[int, int],
    rank: Callable[[int], tuple[float, ...]],
) -> None:
    """Each picture that holds the whole of another joins that picture's group, as `contained`.

    The held picture is the original (a screenshot, a collage or a padded copy is made
    from it), so its keeper stays the group's keeper however large the container is. A
    container holding several pictures (a collage) joins the one it matched best; a
    container held in turn by a larger one brings it along.
    """
    target: dict[int, tuple[float, int, str]] = {}  # container picture -> (score, held picture, reason)
    for a, b, kind, score, reason, holder in catalog.pairs:
        if kind != Kind.CONTAINED or holder not in (a, b) or not _undecided(catalog, a, b):
            continue
        held = b if holder == a else a
        outer, inner = centre.get(holder, holder), centre.get(held, held)
        if outer != inner and (outer not in target or score > target[outer][0]):
            target[outer] = (score, inner, reason)

    # Two pictures may each hold the other (a letterboxed copy near the photo and near a
    # larger container): along a cycle, the picture held by the most containers is the root.
    held_by = Counter(inner for _, inner, _ in target.values())

    def final(picture: int) -> int:
        path = [picture]
        while picture in target:
            picture = target[picture][1]
            if picture in path:
                cycle = path[path.index(picture) :]
                return min(cycle, key=lambda p: (-held_by[p], rank(p)))
            path.append(picture)
        return picture

    for outer in sorted(target):
        score, _, reason = target[outer]
        keeper = final(outer)
        if keeper == outer:
            continue
        group = groups.setdefault(keeper, _Group(keeper=keeper))
        moved = groups.pop(outer, _Group(keeper=outer))
        group.members[outer] = (Kind.CONTAINED, score, reason)
        centre[outer] = keeper
        for member, (tier, _, _) in moved.members.items():
            group.members[member] = (Kind.CONTAINED, score, f"{reason} (a copy of #{outer}: {tier.value})")
            centre[member] = keeper
        centre.setdefault(keeper, keeper)


def _scenes(
    catalog: _Catalog,
    pictures: list[_Group],
    centre: dict[int, int],
    rank: Callable[[int], tuple[float, ...]],
) -> list[_Group]:
    """Pictures joined with other photos of the same scene (`similar`), star-wise around keepers."""
    by_keeper = {group.keeper: group for group in pictures}
    similar = _edges(catalog, Kind.SIMILAR, centre)
    stars = star_groups(((a, b, p) for (a, b), p in similar.items()), rank)
    out: list[_Group] = []
    joined: set[int] = set()
    for star in stars:
        own = by_keeper.get(star.keeper, _Group(star.keeper))
        group = _Group(keeper=star.keeper, members=dict(own.members))
        for other, (score, reason) in star.members.items():
            group.members[other] = (Kind.SIMILAR, score, reason)
            for member, (tier, _, _) in by_keeper.get(other, _Group(other)).members.items():
                group.members[member] = (Kind.SIMILAR, score, f"{reason} (a {tier.value} copy of #{other})")
            joined.add(other)
        joined.add(star.keeper)
        out.append(group)
    out.extend(group for group in pictures if group.keeper not in joined)
    return out


def _keeper_reason(made: _Group, catalog: _Catalog, order: list[KeeperRule]) -> str:
    """Why the keeper: the rules among its own copies; the pictures that hold it come after it."""
    own = [catalog.facts[m] for m, (tier, _, _) in made.members.items() if tier != Kind.CONTAINED]
    reason = keeper_reason(catalog.facts[made.keeper], own, order)
    held = len(made.members) - len(own)
    if not held:
        return reason
    rest = "" if not own else f"; {reason.removeprefix('keeper: ')}"
    return f"keeper: held whole by {held} larger picture{'s' if held > 1 else ''}{rest}"


def _write(session: Session, groups: list[_Group], catalog: _Catalog, order: list[KeeperRule]) -> None:
    for made in groups:
        group = DuplicateGroup(
            kind=made.kind.value,
            status=GroupStatus.OPEN,
            keeper_id=made.keeper,
            keeper_reason=_keeper_reason(made, catalog, order),
        )
        session.add(group)
        session.flush()
        session.add(
            DuplicateMember(
                group_id=group.id,
                image_id=made.keeper,
                position=0,
                role=Role.KEEP,
                tier=None,
                score=1.0,
                reason=group.keeper_reason,
            )
        )
        ranked = sorted(
            made.members.items(), key=lambda item: (TIER_ORDER.index(item[1][0]), -item[1][1], item[0])
        )
        for position, (member, (tier, score, reason)) in enumerate(ranked, 1):
            session.add(
                DuplicateMember(
                    group_id=group.id,
                    image_id=member,
                    position=position,
                    role=Role.MEMBER,
                    tier=tier.value,
                    score=score,
                    reason=reason,
                )
            )


def _open_member_sets(session: Session) -> dict[int, frozenset[int]]:
    members: dict[int, set[int]] = {}
    for group_id, image_id in session.execute(
        select(DuplicateMember.group_id, DuplicateMember.image_id)
        .join(DuplicateGroup, DuplicateGroup.id == DuplicateMember.group_id)
        .where(DuplicateGroup.status == GroupStatus.OPEN)
    ):
        members.setdefault(int(group_id), set()).add(int(image_id))
    return {group_id: frozenset(ids) for group_id, ids in members.items()}


def regroup(session: Session, settings: Settings) -> dict[str, int]:
    """Rebuild every open group (one per picture, with its retakes); groups per strongest tier."""
    order = settings.duplicates.keeper_order
    catalog = _read(session)

    def rank(image_id: int) -> tuple[float, ...]:
        return rank_key(catalog.facts[image_id], order)

    groups, centre = _pictures(catalog, rank)
    if Rules.of(settings).similar_threshold is not None:
        groups = _scenes(catalog, groups, centre, rank)
    groups = [group for group in groups if group.members]
    groups.sort(key=lambda group: rank(group.keeper))

    before = _open_member_sets(session)
    session.execute(delete(DuplicateGroup).where(DuplicateGroup.status == GroupStatus.OPEN))
    _write(session, groups, catalog, order)
    session.flush()
    # Open groups are rebuilt each run: a group is new when no open group had its members.
    new = [g for g, members in _open_member_sets(session).items() if members not in set(before.values())]
    if new:
        record_event(session, "duplicates.new_groups", {"groups": sorted(new), "count": len(new)})
    counts = {kind.value: 0 for kind in Kind}
    for group in groups:
        counts[group.kind.value] += 1
    return counts
