"""Saved searches: a named query whose results are kept, with when each match first appeared."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, UniqueConstraint, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from pixseek.core.db import Base, UTCDateTime, utcnow
from pixseek.core.errors import PixseekError
from pixseek.index.catalog.images import IdType

MAX_NAME = 100


class SavedSearchNotFound(PixseekError):
    status_code = 404
    code = "saved_search_not_found"


class SavedSearchExists(PixseekError):
    status_code = 409
    code = "saved_search_exists"


class SavedSearch(Base):
    __tablename__ = "saved_searches"
    __table_args__ = (UniqueConstraint("name", name="uq_saved_searches_name"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME))
    query: Mapped[dict[str, Any]] = mapped_column(JSON)  # a SearchRequest, as the API takes it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    viewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(String(500))  # why the last refresh failed


class SavedSearchHit(Base):
    __tablename__ = "saved_search_hits"

    search_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("saved_searches.id", ondelete="CASCADE"), primary_key=True
    )
    image_id: Mapped[int] = mapped_column(IdType, primary_key=True)
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def create_saved_search(session: Session, name: str, query: dict[str, Any]) -> SavedSearch:
    if session.scalar(select(SavedSearch.id).where(SavedSearch.name == name)) is not None:
        raise SavedSearchExists(f"a saved search is already named {name!r}")
    row = SavedSearch(name=name, query=query)
    session.add(row)
    session.flush()
    return row


def get_saved_search(session: Session, search_id: int) -> SavedSearch:
    row = session.get(SavedSearch, search_id) if 0 < search_id < 2**63 else None
    if row is None:
        raise SavedSearchNotFound(f"no saved search {search_id}")
    return row


def list_saved_searches(session: Session) -> list[SavedSearch]:
    return list(session.scalars(select(SavedSearch).order_by(SavedSearch.name)))


def delete_saved_search(session: Session, search_id: int) -> None:
    get_saved_search(session, search_id)
    session.execute(delete(SavedSearchHit).where(SavedSearchHit.search_id == search_id))
    session.execute(delete(SavedSearch).where(SavedSearch.id == search_id))


def replace_hits(session: Session, search: SavedSearch, hits: Sequence[tuple[int, float]]) -> list[int]:
    """Keep `hits` (image id, score; best first) as the search's results; the ids that are new."""
    now = utcnow()
    before = {
        row.image_id: row
        for row in session.scalars(select(SavedSearchHit).where(SavedSearchHit.search_id == search.id))
    }
    keep = {image_id for image_id, _ in hits}
    gone = [image_id for image_id in before if image_id not in keep]
    if gone:
        session.execute(
            delete(SavedSearchHit).where(
                SavedSearchHit.search_id == search.id, SavedSearchHit.image_id.in_(gone)
            )
        )
    new: list[int] = []
    for rank, (image_id, score) in enumerate(hits, start=1):
        row = before.get(image_id)
        if row is None:
            session.add(
                SavedSearchHit(
                    search_id=search.id, image_id=image_id, rank=rank, score=score, first_seen_at=now
                )
            )
            new.append(image_id)
        else:
            row.rank, row.score = rank, score
    search.refreshed_at, search.error = now, None
    return new


def hits_of(session: Session, search_id: int) -> list[SavedSearchHit]:
    return list(
        session.scalars(
            select(SavedSearchHit).where(SavedSearchHit.search_id == search_id).order_by(SavedSearchHit.rank)
        )
    )


def counts(session: Session, search: SavedSearch) -> tuple[int, int]:
    """(matches, new since last viewed: all of them if never viewed)."""
    total = session.scalar(select(func.count()).where(SavedSearchHit.search_id == search.id)) or 0
    if search.viewed_at is None:
        return int(total), int(total)
    new = session.scalar(
        select(func.count()).where(
            SavedSearchHit.search_id == search.id, SavedSearchHit.first_seen_at > search.viewed_at
        )
    )
    return int(total), int(new or 0)
