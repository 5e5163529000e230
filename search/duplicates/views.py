"""Groups as their readers see them: typed views over the group, member and catalog rows."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pixseek.core.errors import InvalidRequest
from pixseek.index.catalog.duplicates import DuplicateGroup, DuplicateMember, GroupStatus, Kind
from pixseek.index.catalog.images import MAX_ID, SEARCHABLE, Image
from pixseek.search.duplicates.errors import GroupNotFound


@dataclass(frozen=True)
class GroupImage:
    id: int
    bucket: str | None  # None once the catalog row is gone
    key: str | None
    score: float
    tier: str | None  # exact, near or similar relative to the keeper; None for the keeper itself
    reason: str
    role: str  # keep, member (open group) or duplicate (marked by a resolution)
    present: bool  # False once the image was deleted from its bucket


@dataclass(frozen=True)
class GroupView:
    """One group, keeper first; `as_dict` is the CLI's and API's JSON document."""

    id: int
    kind: str
    status: str
    keep: int
    action: str | None
    images: list[GroupImage]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_group(session: Session, group_id: int) -> DuplicateGroup:
    # An id SQL cannot bind is simply no group (the driver would raise on it).
    group = session.get(DuplicateGroup, group_id) if 1 <= group_id <= MAX_ID else None
    if group is None:
        raise GroupNotFound(f"no duplicate group with id {group_id}")
    return group


def get_group(session: Session, group_id: int) -> GroupView:
    return views_of(session, [load_group(session, group_id)])[0]


def list_groups(
    session: Session,
    *,
    kind: str | None = None,
    status: str = GroupStatus.OPEN,
    offset: int = 0,
    limit: int = 50,
    max_limit: int = 1000,
) -> tuple[int, list[GroupView]]:
    """(total, one page of groups) with the given kind and status, newest last."""
    if kind is not None and kind not in {k.value for k in Kind}:
        raise InvalidRequest(f"kind must be one of exact, near, similar; got {kind!r}")
    if status not in {s.value for s in GroupStatus}:
        raise InvalidRequest(f"status must be one of open, resolved, dismissed; got {status!r}")
    if not 0 <= offset <= MAX_ID or not 1 <= limit <= max_limit:
        raise InvalidRequest(f"offset must be >= 0 and limit between 1 and {max_limit}")
    stmt = select(DuplicateGroup).where(DuplicateGroup.status == status)
    if kind is not None:
        stmt = stmt.where(DuplicateGroup.kind == kind)
    total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    groups = session.scalars(stmt.order_by(DuplicateGroup.id).offset(offset).limit(limit)).all()
    return total, views_of(session, list(groups))


def views_of(session: Session, groups: list[DuplicateGroup]) -> list[GroupView]:
    """The views of `groups`, in their order, with two queries whatever their number."""
    if not groups:
        return []
    members = session.scalars(
        select(DuplicateMember)
        .where(DuplicateMember.group_id.in_([g.id for g in groups]))
        .order_by(DuplicateMember.group_id, DuplicateMember.position)
    ).all()
    images = {
        row.id: row
        for row in session.scalars(select(Image).where(Image.id.in_({m.image_id for m in members})))
    }
    by_group: dict[int, list[DuplicateMember]] = defaultdict(list)
    for member in members:
        by_group[member.group_id].append(member)
    views = []
    for group in groups:
        items = []
        for member in by_group[group.id]:
            image = images.get(member.image_id)
            items.append(
                GroupImage(
                    id=member.image_id,
                    bucket=image.bucket if image else None,
                    key=image.key if image else None,
                    score=round(member.score, 6),
                    tier=member.tier,
                    reason=member.reason,
                    role=member.role,
                    present=image is not None and image.status in SEARCHABLE,
                )
            )
        views.append(
            GroupView(
                id=group.id,
                kind=group.kind,
                status=group.status,
                keep=group.keeper_id,
                action=group.action,
                images=items,
            )
        )
    return views
