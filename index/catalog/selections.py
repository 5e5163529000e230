"""Saved selections: named sets of images and how each was made; per-image curation scores.

A selection is written by a curation command (a diverse subset, typical or unusual images,
a cluster, a split) or by a lasso on the map; search filters on it by name
(`search/filters.py`). `image_scores` holds each image's uniqueness and typicality, the
last density job's (search/curation/).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, delete, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from pixseek.core.db import Base, UTCDateTime, in_chunks, utcnow
from pixseek.index.catalog.images import IdType

MAX_NAME = 200


class Selection(Base):
    __tablename__ = "selections"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME), unique=True)
    method: Mapped[str] = mapped_column(String(32))  # diverse, typical, unusual, cluster, split, lasso
    params: Mapped[dict[str, Any]] = mapped_column(JSON)  # how it was made: the command's arguments
    count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SelectionMember(Base):
    __tablename__ = "selection_members"
    __table_args__ = (Index("ix_selection_members_image_id", "image_id"),)

    selection_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("selections.id", ondelete="CASCADE"), primary_key=True
    )
    image_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer)  # the order the command chose them in
    score: Mapped[float | None] = mapped_column(Float)


class ImageScore(Base):
    """How unusual (1 - mean cosine to its nearest neighbours) and how typical an image is."""

    __tablename__ = "image_scores"
    __table_args__ = (Index("ix_image_scores_uniqueness", "uniqueness"),)

    image_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    uniqueness: Mapped[float] = mapped_column(Float)
    typicality: Mapped[float] = mapped_column(Float)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def save_selection(
    session: Session,
    name: str,
    method: str,
    params: dict[str, Any],
    ids: list[int],
    scores: list[float] | None = None,
) -> Selection:
    """Write (or replace) the selection `name` with `ids` in their order."""
    if delete_selection(session, name):
        session.flush()
    row = Selection(name=name, method=method, params=params, count=len(ids))
    session.add(row)
    session.flush()
    values = [
        {
            "selection_id": row.id,
            "image_id": int(i),
            "position": p,
            "score": None if scores is None else float(scores[p]),
        }
        for p, i in enumerate(ids)
    ]
    for part in in_chunks(values, 5000):
        session.execute(insert(SelectionMember), part)
    return row


def delete_selection(session: Session, name: str) -> bool:
    found = session.scalars(select(Selection).where(Selection.name == name)).first()
    if found is None:
        return False
    session.execute(delete(SelectionMember).where(SelectionMember.selection_id == found.id))
    session.delete(found)
    return True


def replace_scores(
    session: Session, ids: list[int], uniqueness: list[float], typicality: list[float]
) -> None:
    session.execute(delete(ImageScore))
    rows = [
        {"image_id": int(i), "uniqueness": float(u), "typicality": float(t), "computed_at": utcnow()}
        for i, u, t in zip(ids, uniqueness, typicality, strict=True)
    ]
    for part in in_chunks(rows, 5000):
        session.execute(insert(ImageScore), part)
