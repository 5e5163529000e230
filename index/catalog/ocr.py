"""Text found in images: the words Tesseract read, with their boxes, and their keyword tokens.

`image_ocr` holds one row per recognised image: the sha256 of the bytes read (a changed file
is read again), the language packs used, and every word with its box in displayed-image
pixels and Tesseract's confidence. The words' tokens also go to the keyword document's `ocr`
field (`index/catalog/keywords.py`), so keyword and hybrid search find them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, delete, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from pixseek.core.db import Base, UTCDateTime, utcnow
from pixseek.index.catalog.images import IdType
from pixseek.index.catalog.keywords import ImageText
from pixseek.index.catalog.tokenize import index_words


@dataclass(frozen=True)
class Word:
    """One recognised word; `box` is (left, top, right, bottom) in displayed-image pixels."""

    text: str
    box: tuple[int, int, int, int]
    confidence: float  # Tesseract's, 0-100

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ImageOcr(Base):
    __tablename__ = "image_ocr"

    image_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    sha256: Mapped[str] = mapped_column(String(64))
    languages: Mapped[str] = mapped_column(String(200))
    words: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)  # why nothing was read (timeout, unreadable file)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def put_ocr(
    session: Session,
    image_id: int,
    sha256: str,
    languages: str,
    words: Sequence[Word],
    error: str | None = None,
) -> None:
    """Record an image's words, and put their tokens in its keyword document."""
    session.merge(
        ImageOcr(
            image_id=image_id,
            sha256=sha256,
            languages=languages,
            words=[w.as_dict() for w in words],
            error=error,
        )
    )
    tokens = " ".join(index_words(" ".join(w.text for w in words))) or None
    session.execute(update(ImageText).where(ImageText.image_id == image_id).values(ocr=tokens))


def forget_ocr(session: Session, image_ids: Sequence[int]) -> None:
    if image_ids:
        session.execute(delete(ImageOcr).where(ImageOcr.image_id.in_(list(image_ids))))


def get_ocr(session: Session, image_id: int) -> ImageOcr | None:
    return session.get(ImageOcr, image_id)
