"""Zero-shot tags in SQL: each image's tags with their scores, and what they were scored with.

- `image_tags`: one row per (image, tag) that passed its threshold, with the probability
  (`score`) and the cosine similarity to the category's text embedding (`similarity`);
- `image_tag_state`: per image, the vocabulary digest and the sha256 of the vector it was
  scored with, so a new vocabulary, a new model or a changed file is scored again and
  nothing else is;
- `tag_vocabularies`: the text embeddings of a vocabulary's prompts per model (`prompt_digest`),
  so that scoring new images never runs the text tower again.

Scoring itself needs the text tower and lives in the ingest pipeline (`ingest/tagging.py`);
this module only reads and writes rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, LargeBinary, String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from pixseek.core.db import Base, UTCDateTime, in_chunks, utcnow
from pixseek.index.catalog.images import SEARCHABLE, IdType, Image


class ImageTag(Base):
    __tablename__ = "image_tags"
    __table_args__ = (Index("ix_image_tags_tag_image", "tag", "image_id"),)

    image_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)
    score: Mapped[float] = mapped_column(Float)  # probability among the vocabulary (0..1)
    similarity: Mapped[float] = mapped_column(Float)  # cosine to the category's text embedding


class ImageTagState(Base):
    __tablename__ = "image_tag_state"
    __table_args__ = (Index("ix_image_tag_state_vocabulary", "vocabulary"),)

    image_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    vocabulary: Mapped[str] = mapped_column(String(64))  # Vocabulary.digest(model)
    sha256: Mapped[str] = mapped_column(String(64))  # of the file whose vector was scored


class TagVocabulary(Base):
    """The text embeddings of one vocabulary's prompts under one model."""

    __tablename__ = "tag_vocabularies"

    prompt_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(256))
    names: Mapped[list[str]] = mapped_column(JSON)  # categories, then "" per background prompt
    dim: Mapped[int] = mapped_column(Integer)
    scale: Mapped[float] = mapped_column(Float)  # the model's logit scale (softmax temperature)
    vectors: Mapped[bytes] = mapped_column(LargeBinary)  # float32 (len(names), dim), unit rows
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def replace_tags(
    session: Session,
    digest: str,
    scored: Sequence[tuple[int, str]],
    tags: Iterable[tuple[int, str, float, float]],
) -> None:
    """Record the tags of freshly scored images, replacing what they had.

    Args:
        digest: the vocabulary digest the images were scored with.
        scored: (image id, sha256) of every image scored, tagged or not.
        tags: (image id, tag, score, similarity) rows that passed their threshold.
    """
    ids = [image_id for image_id, _ in scored]
    for part in in_chunks(ids):
        session.execute(delete(ImageTag).where(ImageTag.image_id.in_(part)))
        session.execute(delete(ImageTagState).where(ImageTagState.image_id.in_(part)))
    rows = [{"image_id": i, "tag": t, "score": s, "similarity": c} for i, t, s, c in tags]
    if rows:
        session.execute(sa.insert(ImageTag), rows)
    if scored:
        states = [{"image_id": i, "vocabulary": digest, "sha256": sha} for i, sha in scored]
        session.execute(sa.insert(ImageTagState), states)


def tags_of(session: Session, image_ids: Sequence[int]) -> dict[int, list[tuple[str, float]]]:
    """Each image's tags with their scores, best first."""
    out: dict[int, list[tuple[str, float]]] = {}
    for part in in_chunks(list(image_ids)):
        rows = session.execute(
            select(ImageTag.image_id, ImageTag.tag, ImageTag.score).where(ImageTag.image_id.in_(part))
        ).all()
        for image_id, tag, score in rows:
            out.setdefault(int(image_id), []).append((str(tag), float(score)))
    for tags in out.values():
        tags.sort(key=lambda t: (-t[1], t[0]))
    return out


def tag_counts(session: Session, ids: sa.Select[Any] | Sequence[int], limit: int) -> dict[str, int]:
    """How many of the given images carry each tag: the `limit` most frequent, ties by name.

    Args:
        ids: a select of image ids (counted in SQL), or the ids themselves.
    """
    count = func.count().label("n")
    if isinstance(ids, sa.Select):
        stmt = select(ImageTag.tag, count).where(ImageTag.image_id.in_(ids.scalar_subquery()))
        stmt = stmt.group_by(ImageTag.tag).order_by(count.desc(), ImageTag.tag).limit(limit)
        return {str(tag): int(n) for tag, n in session.execute(stmt).all()}
    totals: dict[str, int] = {}
    for part in in_chunks(list(ids)):
        rows = session.execute(
            select(ImageTag.tag, count).where(ImageTag.image_id.in_(part)).group_by(ImageTag.tag)
        ).all()
        for tag, n in rows:
            totals[str(tag)] = totals.get(str(tag), 0) + int(n)
    best = sorted(totals.items(), key=lambda t: (-t[1], t[0]))[:limit]
    return dict(best)


def catalog_tag_counts(session: Session) -> dict[str, int]:
    """Searchable images per tag over the whole catalog."""
    rows = session.execute(
        select(ImageTag.tag, func.count())
        .join(Image, Image.id == ImageTag.image_id)
        .where(Image.status.in_(list(SEARCHABLE)))
        .group_by(ImageTag.tag)
    ).all()
    return {str(tag): int(n) for tag, n in rows}


def tagging_progress(session: Session, digest: str) -> tuple[int, int]:
    """(searchable images scored with `digest`, searchable images with a vector)."""
    searchable = Image.status.in_(list(SEARCHABLE))
    done = session.scalar(
        select(func.count())
        .select_from(ImageTagState)
        .join(Image, Image.id == ImageTagState.image_id)
        .where(searchable, ImageTagState.vocabulary == digest, ImageTagState.sha256 == Image.sha256)
    )
    total = session.scalar(
        select(func.count()).select_from(Image).where(searchable, Image.sha256.is_not(None))
    )
    return int(done or 0), int(total or 0)


def get_prompt_vectors(session: Session, prompt_digest: str) -> TagVocabulary | None:
    return session.get(TagVocabulary, prompt_digest)


def put_prompt_vectors(session: Session, row: TagVocabulary) -> None:
    """Keep the embeddings of this vocabulary, and drop those of others for the same model."""
    session.execute(
        delete(TagVocabulary).where(
            TagVocabulary.model == row.model, TagVocabulary.prompt_digest != row.prompt_digest
        )
    )
    session.merge(row)
