"""SQL tables of duplicate detection: signatures, matched pairs, groups and user decisions."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pixseek.core.db import Base, UTCDateTime, utcnow
from pixseek.index.catalog.images import IdType
from pixseek.media.perceptual_hash import VERSION, Signature


class Kind(enum.StrEnum):
    EXACT = "exact"  # the same bytes
    NEAR = "near"  # the same picture after edits (resize, recompression, crop, mirror, ...)
    CONTAINED = "contained"  # the whole of one picture inside a larger one (screenshot, collage, margin)
    SIMILAR = "similar"  # another photo of the same scene (pretrained weights only)


class GroupStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


class Decision(enum.StrEnum):
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


class Role(enum.StrEnum):
    KEEP = "keep"  # the suggested (or, once resolved, chosen) keeper
    MEMBER = "member"  # an open group's other images
    DUPLICATE = "duplicate"  # marked to remove or hide by a resolution


class ImageHash(Base):
    """The perceptual signature of an image (see pixseek/media/perceptual_hash.py)."""

    __tablename__ = "image_hashes"

    image_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer)
    codes: Mapped[bytes] = mapped_column(LargeBinary)
    thumbs: Mapped[bytes] = mapped_column(LargeBinary)
    # When this image was last compared against the collection; NULL means "new, compare it".
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @classmethod
    def fresh(cls, image_id: int, sig: Signature) -> ImageHash:
        """The row for a newly computed signature: not yet compared with the collection."""
        return cls(
            image_id=image_id,
            version=VERSION,
            codes=sig.codes_blob(),
            thumbs=sig.thumbs_blob(),
            checked_at=None,
        )


class DuplicatePair(Base):
    """Two images that matched at some tier; `image_a < image_b`."""

    __tablename__ = "duplicate_pairs"
    __table_args__ = (
        UniqueConstraint("image_a", "image_b", name="uq_duplicate_pairs"),
        Index("ix_duplicate_pairs_image_b", "image_b"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    image_a: Mapped[int] = mapped_column(IdType, ForeignKey("images.id", ondelete="CASCADE"))
    image_b: Mapped[int] = mapped_column(IdType, ForeignKey("images.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float)
    hash_distance: Mapped[int | None] = mapped_column(Integer)
    patch_agreement: Mapped[float | None] = mapped_column(Float)
    cls_score: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    # For a `contained` pair: the image that holds the whole of the other; NULL otherwise.
    container: Mapped[int | None] = mapped_column(IdType)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DuplicateGroup(Base):
    __tablename__ = "duplicate_groups"
    __table_args__ = (Index("ix_duplicate_groups_status_kind", "status", "kind"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=GroupStatus.OPEN)
    keeper_id: Mapped[int] = mapped_column(IdType)
    keeper_reason: Mapped[str] = mapped_column(Text)
    action: Mapped[str | None] = mapped_column(String(16))  # "remove" or "hide", once resolved
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DuplicateMember(Base):
    __tablename__ = "duplicate_members"
    __table_args__ = (Index("ix_duplicate_members_image_id", "image_id"),)

    group_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("duplicate_groups.id", ondelete="CASCADE"), primary_key=True
    )
    image_id: Mapped[int] = mapped_column(IdType, primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    # The member's tier relative to the keeper (exact, near or similar); NULL for the keeper.
    tier: Mapped[str | None] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)


class DuplicateDecision(Base):
    """A user's word on a pair of pictures, keyed by content so that it survives re-ingest.

    `sha_a <= sha_b`. A decided pair is never put in an open group again.
    """

    __tablename__ = "duplicate_decisions"
    __table_args__ = (UniqueConstraint("sha_a", "sha_b", name="uq_duplicate_decisions"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    sha_a: Mapped[str] = mapped_column(String(64))
    sha_b: Mapped[str] = mapped_column(String(64))
    image_a: Mapped[int | None] = mapped_column(IdType)
    image_b: Mapped[int | None] = mapped_column(IdType)
    decision: Mapped[str] = mapped_column(String(16))
    group_id: Mapped[int | None] = mapped_column(IdType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
