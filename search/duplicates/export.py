"""Groups and decisions written out: one CSV row per member, or one JSON document per group.

Each member says its group, the group's keeper, its own tier and reason, and the decision
(open, resolved with `remove`/`hide`, dismissed) with its role in it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pixseek.core.errors import InvalidRequest
from pixseek.index.catalog.duplicates import DuplicateGroup, GroupStatus
from pixseek.search.duplicates.views import GroupView, views_of

FORMATS = ("csv", "json")
COLUMNS = (
    "group_id",
    "group_kind",
    "decision",
    "action",
    "keeper_id",
    "image_id",
    "bucket",
    "key",
    "role",
    "tier",
    "score",
    "reason",
    "present",
)
PAGE = 500


def groups(session: Session, status: str | None = None) -> Iterator[GroupView]:
    """Every group (of one status, if given), in id order, a page of views at a time."""
    if status is not None and status not in {s.value for s in GroupStatus}:
        raise InvalidRequest(f"status must be one of open, resolved, dismissed; got {status!r}")
    last = 0
    while True:
        stmt = select(DuplicateGroup).where(DuplicateGroup.id > last)
        if status is not None:
            stmt = stmt.where(DuplicateGroup.status == status)
        page = list(session.scalars(stmt.order_by(DuplicateGroup.id).limit(PAGE)))
        if not page:
            return
        yield from views_of(session, page)
        last = page[-1].id


def rows(group: GroupView) -> Iterator[dict[str, Any]]:
    for image in group.images:
        yield {
            "group_id": group.id,
            "group_kind": group.kind,
            "decision": group.status,
            "action": group.action or "",
            "keeper_id": group.keep,
            "image_id": image.id,
            "bucket": image.bucket or "",
            "key": image.key or "",
            "role": image.role,
            "tier": image.tier or "",
            "score": round(image.score, 6),
            "reason": image.reason,
            "present": image.present,
        }


def export(session: Session, fmt: str = "csv", status: str | None = None) -> str:
    """The groups (of `status`, or all) as CSV (a header, one row per member) or JSON."""
    if fmt not in FORMATS:
        raise InvalidRequest(f"format must be csv or json; got {fmt!r}")
    if fmt == "json":
        import json

        return json.dumps({"groups": [g.as_dict() for g in groups(session, status)]}, indent=1) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for group in groups(session, status):
        writer.writerows(rows(group))
    return out.getvalue()
