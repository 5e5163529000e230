"""Image bodies: catalog metadata and the text read in an image."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class ImageInfo(BaseModel):
    id: int
    bucket: str
    key: str
    status: str
    size: int | None
    mtime: float | None
    sha256: str | None
    format: str | None
    width: int | None
    height: int | None
    captured_at: datetime | None
    error: str | None
    model: str | None
    created_at: datetime
    updated_at: datetime
    embedded_at: datetime | None
    tags: dict[str, float] = Field(
        default_factory=dict,
        description="Zero-shot tags the image carries, each with its score (probability), best first",
    )


class WordOut(BaseModel):
    text: str
    box: tuple[int, int, int, int] = Field(description="left, top, right, bottom in displayed-image pixels")
    confidence: float = Field(description="Tesseract's confidence, 0-100")


class ImageTextOut(BaseModel):
    image_id: int
    status: Literal["read", "pending", "off"] = Field(
        description="read: the words below; pending: not read yet (or the file changed since); "
        "off: OCR is not enabled (PIXSEEK_OCR__ENABLED)"
    )
    languages: str | None = Field(default=None, description="Tesseract language packs used, e.g. eng+deu")
    words: list[WordOut] = Field(default_factory=list, description="In reading order")
    text: str = Field(default="", description="The words joined by spaces")
    error: str | None = Field(default=None, description="Why the image could not be read, when it could not")
