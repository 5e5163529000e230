"""A user's word on a group: resolve (keep some, mark the rest) or dismiss (not duplicates).

Only decisions are recorded: pixseek never deletes, moves or hides a user's file itself.
Every pair of a decided group is written to `duplicate_decisions`, keyed by content, so no
later grouping puts any two of its pictures together again, whatever they are renamed to.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from pixseek.core.db import utcnow
from pixseek.core.errors import InvalidRequest
from pixseek.index.catalog.duplicates import (
    Decision,
    DuplicateDecision,
    DuplicateGroup,
    DuplicateMember,
    GroupStatus,
    Role,
)
from pixseek.index.catalog.images import Image
from pixseek.search.duplicates.errors import GroupDecided
from pixseek.search.duplicates.views import GroupView, get_group, load_group

log = logging.getLogger(__name__)

ACTIONS = ("remove", "hide")


def _open_group(session: Session, group_id: int) -> DuplicateGroup:
    group = load_group(session, group_id)
    if group.status != GroupStatus.OPEN:
        raise GroupDecided(f"group {group_id} is already {group.status}")
    return group


def _decide(session: Session, group: DuplicateGroup, decision: Decision) -> None:
    members = session.scalars(
        select(DuplicateMember.image_id).where(DuplicateMember.group_id == group.id)
    ).all()
    rows = session.execute(select(Image.id, Image.sha256).where(Image.id.in_(list(members)))).all()
    shas = sorted((str(sha), int(i)) for i, sha in rows if sha)
    existing = {
        (a, b)
        for a, b in session.execute(
            select(DuplicateDecision.sha_a, DuplicateDecision.sha_b).where(
                DuplicateDecision.sha_a.in_([s for s, _ in shas])
            )
        )
    }
    # Every pair of the group is decided, so no later grouping can put any two together again.
    for x in range(len(shas)):
        for y in range(x + 1, len(shas)):
            (sa, ia), (sb, ib) = shas[x], shas[y]
            if (sa, sb) in existing:
                continue
            existing.add((sa, sb))
            session.add(
                DuplicateDecision(
                    sha_a=sa, sha_b=sb, image_a=ia, image_b=ib, decision=decision.value, group_id=group.id
                )
            )
    group.decided_at = utcnow()


def resolve(
    session: Session, group_id: int, *, keep: list[int] | None = None, action: str = "hide"
) -> GroupView:
    """Keep `keep` (default: the suggested keeper); mark the others to remove or hide."""
    if action not in ACTIONS:
        raise InvalidRequest(f"action must be one of {', '.join(ACTIONS)}; got {action!r}")
    group = _open_group(session, group_id)
    members = session.scalars(select(DuplicateMember).where(DuplicateMember.group_id == group.id)).all()
    ids = {m.image_id for m in members}
    kept = set(keep) if keep else {group.keeper_id}
    unknown = kept - ids
    if unknown:
        raise InvalidRequest(f"images {sorted(unknown)} are not in group {group_id}")
    for member in members:
        member.role = Role.KEEP if member.image_id in kept else Role.DUPLICATE
    group.status, group.action = GroupStatus.RESOLVED, action
    _decide(session, group, Decision.RESOLVED)
    session.flush()
    log.info("duplicates.resolved group=%d keep=%s action=%s", group_id, sorted(kept), action)
    return get_group(session, group_id)


def dismiss(session: Session, group_id: int) -> GroupView:
    """Mark the group "not duplicates": none of its pairs will be grouped again."""
    group = _open_group(session, group_id)
    group.status = GroupStatus.DISMISSED
    _decide(session, group, Decision.DISMISSED)
    session.flush()
    log.info("duplicates.dismissed group=%d", group_id)
    return get_group(session, group_id)
