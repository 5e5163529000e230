"""Job bodies: start an ingest, follow any job, list its problems."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from pixseek.api.schemas.base import RequestBody


class JobRequest(RequestBody):
    path: str = Field(
        min_length=1,
        max_length=4096,
        pattern=r"^(/|[fF][iI][lL][eE]:///|[sS]3://)[^\x00]*$",
        description="A bucket: an absolute folder path on the server (or file:///...), or s3://bucket/prefix.",
    )


class DetectionInfo(BaseModel):
    images: int = Field(description="Images with a signature")
    compared: int = Field(description="Images compared against the collection (new ones unless full)")
    pairs_found: int
    backfilled: int = Field(description="Signatures computed first for images that had none")
    groups: dict[str, int] = Field(description="Open groups per tier afterwards: exact, near, similar")


class OcrInfo(BaseModel):
    images: int = Field(default=0, description="Images read so far")
    with_text: int = Field(default=0, description="Of which Tesseract found words in")
    words: int = Field(default=0, description="Words found")
    unread: int = Field(default=0, description="Images that could not be read (file gone, timeout)")


class EnrichInfo(BaseModel):
    images: int = Field(default=0, description="Images enriched (and published) so far")
    patches: int = Field(default=0, description="Of which given patches over the whole picture")
    unread: int = Field(default=0, description="Images whose file could not be read this time")
    changed: int = Field(default=0, description="Images changed or re-ingested meanwhile: left for later")


class JobInfo(BaseModel):
    job_id: str
    kind: str = Field(
        description="ingest, enrich (what follows an ingest: whole-picture patches, thumbnails, "
        "signatures), duplicates (a detection run), ocr (text in images) or curation (a curation "
        "command or the map)"
    )
    bucket: str = Field(description="The ingested bucket; empty for detection and OCR, which span all")
    status: str = Field(description="queued, running, done, failed or cancelled")
    total: int
    done: int
    indexed: int
    unchanged: int
    deleted: int
    failed: int
    skipped: int
    cancelled: int = Field(default=0, description="Images still pending when the job was cancelled")
    error: str | None
    detection: DetectionInfo | None = Field(description="What a detection job found, once done")
    ocr: OcrInfo | None = Field(default=None, description="An OCR job's counts so far")
    enrich: EnrichInfo | None = Field(default=None, description="An enrich job's counts so far")
    curation: dict[str, Any] | None = Field(
        default=None,
        description="A curation job's `command`, `params`, `step` and, once done, its `report`",
    )
    created_at: str | None
    finished_at: str | None


class JobProblem(BaseModel):
    id: int
    key: str
    status: str = Field(description="failed (could not be read or decoded) or skipped (not an image)")
    reason: str
