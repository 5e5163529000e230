"""The SQL catalog: one row per file seen in a bucket; its id is the FAISS id."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from pixseek.core.db import Base, UTCDateTime, utcnow
from pixseek.core.errors import ImageNotFound
from pixseek.core.limits import MAX_ID

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
IdType = BigInteger().with_variant(Integer(), "sqlite")


class ImageStatus(enum.StrEnum):
    PENDING = "pending"  # planned by a job, not yet read
    EMBEDDED = "embedded"  # vectors stored, waiting for the index writer
    INDEXED = "indexed"
    FAILED = "failed"
    SKIPPED = "skipped"
    DELETED = "deleted"
    CANCELLED = "cancelled"  # was pending when its job was cancelled; the next ingest plans it again
    # Moved to a quarantine by `pixseek duplicates apply`: out of the index, its vectors kept
    # so that `undo` puts it back without embedding it again (search/duplicates/apply.py).
    QUARANTINED = "quarantined"


# Statuses whose vectors belong in the index once the writer has run.
SEARCHABLE = (ImageStatus.INDEXED, ImageStatus.EMBEDDED)
# `patch_layout` values of grids over the whole picture (pixseek.model.tiling's methods).
WHOLE_LAYOUTS = ("tiles", "full")


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (
        UniqueConstraint("bucket", "key", name="uq_images_bucket_key"),
        Index("ix_images_status", "status"),
        Index("ix_images_sha256", "sha256"),
        Index("ix_images_job_id", "job_id"),
        Index("ix_images_created_at", "created_at"),
        Index("ix_images_captured_at", "captured_at"),
        Index("ix_images_status_model", "status", "model"),  # counts of searchable images
        Index("ix_images_unenriched", "enriched_at", "id"),  # what an enrich job has left
        Index("ix_images_parent_id", "parent_id"),  # a video's segments
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    bucket: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text)
    size: Mapped[int | None] = mapped_column(BigInteger)
    mtime: Mapped[float | None] = mapped_column(Float)
    etag: Mapped[str | None] = mapped_column(String(128))
    sha256: Mapped[str | None] = mapped_column(String(64))
    format: Mapped[str | None] = mapped_column(String(16))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    captured_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=ImageStatus.PENDING)
    error: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(256))
    grid_h: Mapped[int | None] = mapped_column(Integer)
    grid_w: Mapped[int | None] = mapped_column(Integer)
    # How the stored patch grid covers the picture: "tiles" or "full" (the whole picture,
    # pixseek.model.tiling), "centre" or NULL (the centred square crop, before issue 17).
    patch_layout: Mapped[str | None] = mapped_column(String(16))
    job_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    embedded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When its enrichment (whole-picture patches, thumbnails, signature) was done and published;
    # NULL while the image waits for an enrich job (ingest/enrich.py).
    enriched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Videos (issue 27): a video file's row has media "video" and no vector of its own; each
    # of its segments is a row of its own (media "video", parent_id the file's row, key
    # `<file key>#segment=<n>`) holding the vector, patches and thumbnail of its representative
    # frame, with its time range. `duration_s` is the video's, on the file and its segments.
    media: Mapped[str | None] = mapped_column(String(8))
    parent_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("images.id", ondelete="CASCADE", name="fk_images_parent_id_images")
    )
    start_s: Mapped[float | None] = mapped_column(Float)
    end_s: Mapped[float | None] = mapped_column(Float)
    frame_s: Mapped[float | None] = mapped_column(Float)  # a segment's representative frame
    duration_s: Mapped[float | None] = mapped_column(Float)


VIDEO = "video"
SEGMENT_MARK = "#segment="


def segment_key(video_key: str, n: int) -> str:
    """The catalog key of a video's `n`th segment (never listed by a bucket: planning skips it)."""
    return f"{video_key}{SEGMENT_MARK}{n}"


class ImageVector(Base):
    """The CLS embedding of an image by a model, kept in SQL so any index can be rebuilt from it.

    One row per image and model: the served model's, and during `pixseek reindex` the next
    model's beside it (dropped with the old generation by `pixseek reindex --drop-old`).
    """

    __tablename__ = "image_vectors"
    __table_args__ = (Index("ix_image_vectors_sha256_model", "sha256", "model"),)

    image_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(256), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian, L2-normalised


def vector_dim(session: Session, model: str) -> int | None:
    """The dimension of the CLS vectors stored for `model` (its `ModelId.key`), or None if there are none."""
    return session.scalars(select(ImageVector.dim).where(ImageVector.model == model).limit(1)).first()


def patch_coverage(session: Session, labels: list[str], enriching: int = 0) -> dict[str, int]:
    """Searchable images of these models by patch layout: `whole`, `centre`, and `pending`
    (of either, those still waiting for their enrich job, less `enriching` the caller is
    about to mark done)."""
    rows = session.execute(
        select(Image.patch_layout, Image.enriched_at.is_(None), func.count())
        .where(Image.status.in_(list(SEARCHABLE)), Image.model.in_(labels))
        .group_by(Image.patch_layout, Image.enriched_at.is_(None))
    ).all()
    out = {"whole": 0, "centre": 0, "pending": 0}
    for layout, pending, count in rows:
        out["whole" if layout in WHOLE_LAYOUTS else "centre"] += int(count)
        if pending:
            out["pending"] += int(count)
    out["pending"] = max(0, out["pending"] - enriching)
    return out


def get_image(session: Session, image_id: int) -> Image:
    """The catalog row of an image, or ImageNotFound."""
    if not 1 <= image_id <= MAX_ID:  # the database driver would fail on ids it cannot bind
        raise ImageNotFound(f"no image with id {image_id}")
    image = session.get(Image, image_id)
    if image is None:
        raise ImageNotFound(f"no image with id {image_id}")
    return image


def get_searchable_image(session: Session, image_id: int) -> Image:
    """Like get_image, but only for images that are (or are about to be) in the index."""
    image = get_image(session, image_id)
    if image.status not in SEARCHABLE:
        raise ImageNotFound(f"image {image_id} is {image.status}, not indexed")
    return image


def video_segments(session: Session, video_id: int) -> list[Image]:
    """The searchable segments of a video, in time order."""
    return list(
        session.scalars(
            select(Image)
            .where(Image.parent_id == video_id, Image.status.in_(list(SEARCHABLE)))
            .order_by(Image.start_s, Image.id)
        )
    )


def images_by_ids(session: Session, ids: list[int]) -> dict[int, Image]:
    if not ids:
        return {}
    rows = session.scalars(select(Image).where(Image.id.in_(ids))).all()
    return {row.id: row for row in rows}
