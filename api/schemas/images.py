"""Image bodies: catalog metadata and the text read in an image."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class PlaceOut(BaseModel):
    country_code: str | None = Field(description="ISO 3166-1 alpha-2")
    country: str | None
    city: str | None = Field(
        description="The nearest GeoNames place of 1,000 people or more covering the position"
    )
    state: str | None


class PhotoOut(BaseModel):
    """How and where the photo was taken, from its EXIF; null fields where it does not say."""

    camera: str | None = Field(description='Make and model as people say them, e.g. "Canon EOS R6"')
    camera_make: str | None
    camera_model: str | None
    lens: str | None
    focal_length: float | None = Field(description="Millimetres")
    focal_length_35mm: int | None
    exposure_time: float | None = Field(description="Seconds")
    f_number: float | None
    iso: int | None
    orientation: int | None = Field(description="EXIF orientation, 1-8")
    latitude: float | None = Field(description="WGS 84 degrees, north positive")
    longitude: float | None = Field(description="WGS 84 degrees, east positive")
    altitude: float | None = Field(description="Metres above sea level")
    place: PlaceOut | None = Field(description="Where the position is, from an offline gazetteer")
    problems: list[str] = Field(
        description="What could not be read (a corrupt EXIF block, a position out of range)"
    )


class TwinOut(BaseModel):
    id: int
    key: str
    format: str | None


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
    media: str | None = Field(default=None, description="`video` for a video and each of its segments")
    parent_id: int | None = Field(default=None, description="A segment's video")
    start_s: float | None = Field(
        default=None, description="A segment's start, seconds from the video's start"
    )
    end_s: float | None = Field(default=None, description="A segment's end (seconds)")
    frame_s: float | None = Field(default=None, description="Where a segment's representative frame is")
    duration_s: float | None = Field(default=None, description="The video's length in seconds")
    tags: dict[str, float] = Field(
        default_factory=dict,
        description="Zero-shot tags the image carries, each with its score (probability), best first",
    )
    photo: PhotoOut | None = Field(
        default=None, description="Camera, lens, exposure and place from the EXIF; null until read"
    )
    twins: list[TwinOut] = Field(
        default_factory=list,
        description="The same shot in another file: a RAW and its JPEG (same name, same capture time); "
        "search shows the RAW through its twin",
    )


class WordOut(BaseModel):
    text: str
    box: tuple[int, int, int, int] = Field(description="left, top, right, bottom in displayed-image pixels")
    confidence: float = Field(description="The OCR engine's confidence, 0-100")


class ImageTextOut(BaseModel):
    image_id: int
    status: Literal["read", "pending", "off"] = Field(
        description="read: the words below; pending: not read yet (or the file changed since); "
        "off: OCR is not enabled (PIXSEEK_OCR__ENABLED)"
    )
    languages: str | None = Field(
        default=None,
        description="What read it: Tesseract's language packs (eng+deu), or the engine and its model "
        "(rapidocr:PP-OCRv4)",
    )
    words: list[WordOut] = Field(default_factory=list, description="In reading order")
    text: str = Field(default="", description="The words joined by spaces")
    error: str | None = Field(default=None, description="Why the image could not be read, when it could not")
