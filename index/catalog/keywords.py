"""The keyword index: words of each image's name, folders, caption and text, searchable by rank.

`image_text` holds the tokens (see `index.tokenize`) on every backend. Ranking uses the
database's own full-text index over it:

- SQLite: an FTS5 table `image_text_fts` kept in step by triggers, ranked by `bm25()`;
- PostgreSQL: a generated, weighted `tsvector` column with a GIN index, ranked by `ts_rank`.

Field weights make a word in the file name count more than one in the folders, and that
more than one in the caption or in the text read from the image (OCR, `index/catalog/ocr.py`).
Relevance values are comparable within one query only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ForeignKey, Text, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from pixseek.core.db import Base
from pixseek.core.errors import PixseekError
from pixseek.index.catalog.images import IdType, Image
from pixseek.index.catalog.tokenize import TextDocument

FTS_TABLE = "image_text_fts"
# bm25 weights per FTS5 column (name, path, caption, ocr); PostgreSQL uses setweight A, B, C, D.
FTS_WEIGHTS = (10.0, 3.0, 1.0, 1.0)


class KeywordSearchUnavailable(PixseekError):
    status_code = 501
    code = "keyword_search_unavailable"


class ImageText(Base):
    """The keyword document of one image: lowercase tokens, space-separated, per field."""

    __tablename__ = "image_text"

    image_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(Text, default="")
    path: Mapped[str] = mapped_column(Text, default="")
    caption: Mapped[str | None] = mapped_column(Text)
    # Tokens of the words read in the image (OCR); written by the OCR job, never by ingest.
    ocr: Mapped[str | None] = mapped_column(Text)


@dataclass(frozen=True)
class KeywordQuery:
    """Which documents match: any `groups` entry (all its words), and none of `exclude`.

    Each group is the words of one query part; a negative part's words go to `exclude`.
    """

    groups: list[list[str]] = field(default_factory=list)
    exclude: list[list[str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(self.groups)


def put_document(session: Session, image_id: int, doc: TextDocument) -> None:
    """Record (or replace) the keyword document of an image."""
    session.merge(ImageText(image_id=image_id, name=doc.name, path=doc.path, caption=doc.caption))


def forget_documents(session: Session, image_ids: Sequence[int]) -> None:
    """Drop the keyword documents of these images (deleted or failed)."""
    if image_ids:
        session.execute(delete(ImageText).where(ImageText.image_id.in_(list(image_ids))))


def _fts5_match(query: KeywordQuery) -> str:
    def group(words: list[str]) -> str:
        return "(" + " AND ".join('"' + w.replace('"', '""') + '"' for w in words) + ")"

    positive = " OR ".join(group(g) for g in query.groups if g)
    negative = " OR ".join(group(g) for g in query.exclude if g)
    return f"({positive}) NOT ({negative})" if negative else positive


def _tsqueries(query: KeywordQuery) -> tuple[str, str]:
    """The tsquery that selects matches, and the one that ranks them.

    `ts_rank` scores a query with `!` as almost zero, so ranking uses the positive words only.
    """

    def group(words: list[str]) -> str:
        return "(" + " & ".join("'" + w.replace("'", "''") + "'" for w in words) + ")"

    positive = " | ".join(group(g) for g in query.groups if g)
    negative = " | ".join(group(g) for g in query.exclude if g)
    return (f"({positive}) & !({negative})" if negative else positive), positive


def _fts5_available(session: Session) -> bool:
    found = session.execute(
        sa.text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"), {"name": FTS_TABLE}
    ).first()
    return found is not None


def _matching(
    session: Session, query: KeywordQuery, conditions: Sequence[ColumnElement[bool]]
) -> tuple[sa.Select[Any], ColumnElement[float]]:
    """A select of (image_id, relevance) over matching, filtered images, and its rank column."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        if not _fts5_available(session):
            raise KeywordSearchUnavailable("this SQLite build has no FTS5: keyword search is unavailable")
        fts = sa.table(FTS_TABLE, sa.column("rowid", sa.Integer))
        # bm25() is lower-is-better; negate it so relevance grows with the match.
        bm25 = func.bm25(sa.literal_column(FTS_TABLE), *FTS_WEIGHTS)
        relevance: ColumnElement[float] = (-bm25).label("relevance")
        stmt = (
            select(fts.c.rowid.label("image_id"), relevance)
            .select_from(fts)
            .join(Image, Image.id == fts.c.rowid)
            .where(sa.text(f"{FTS_TABLE} MATCH :match").bindparams(match=_fts5_match(query)))
            .where(*conditions)
        )
        return stmt, relevance
    if dialect == "postgresql":
        doc = sa.table("image_text", sa.column("image_id", sa.BigInteger), sa.column("document"))
        selecting, ranking = _tsqueries(query)
        config = sa.text("'simple'::regconfig")
        relevance = func.ts_rank(doc.c.document, func.to_tsquery(config, ranking)).label("relevance")
        stmt = (
            select(doc.c.image_id, relevance)
            .select_from(doc)
            .join(Image, Image.id == doc.c.image_id)
            .where(doc.c.document.op("@@")(func.to_tsquery(config, selecting)))
            .where(*conditions)
        )
        return stmt, relevance
    raise KeywordSearchUnavailable(f"keyword search does not support the {dialect} database")


def keyword_search(
    session: Session,
    query: KeywordQuery,
    conditions: Sequence[ColumnElement[bool]],
    limit: int,
) -> list[tuple[int, float]]:
    """Up to `limit` (image id, relevance) pairs, best first, ties by id.

    Args:
        query: the words to match; an empty query matches nothing.
        conditions: SQL conditions on `Image` that a result must meet (filters, status).
        limit: how many to return.
    """
    if query.empty or limit <= 0:
        return []
    stmt, relevance = _matching(session, query, conditions)
    stmt = stmt.order_by(relevance.desc(), sa.literal_column("image_id")).limit(limit)
    return [(int(row[0]), float(row[1])) for row in session.execute(stmt).all()]


def keyword_ids(
    session: Session, query: KeywordQuery, conditions: Sequence[ColumnElement[bool]]
) -> sa.Select[Any] | None:
    """A select of the ids of every filtered image matching `query` (None: the query matches nothing)."""
    if query.empty:
        return None
    stmt, _ = _matching(session, query, conditions)
    sub = stmt.subquery()
    return select(sub.c.image_id)


def keyword_count(session: Session, query: KeywordQuery, conditions: Sequence[ColumnElement[bool]]) -> int:
    """How many filtered images match `query`."""
    if query.empty:
        return 0
    stmt, _ = _matching(session, query, conditions)
    return int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
