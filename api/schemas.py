"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class SearchHit(BaseModel):
    id: int
    bucket: str
    key: str
    score: float = Field(description="Cosine similarity to the query, -1..1.")


class SearchResponse(BaseModel):
    results: list[SearchHit]


class TextSearchRequest(BaseModel):
    text: str = Field(min_length=1, max_length=2000, examples=["a dog on a beach"])
    k: int = Field(default=10, ge=1, le=1000)
    min_score: float | None = Field(default=None, ge=-1.0, le=1.0)
    bucket: str | None = None
    key_prefix: str | None = None


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


class JobRequest(BaseModel):
    path: str = Field(
        min_length=1, max_length=4096, description="A bucket: a folder on the server, or s3://bucket/prefix."
    )


class JobInfo(BaseModel):
    job_id: str
    bucket: str
    status: str
    total: int
    done: int
    indexed: int
    unchanged: int
    deleted: int
    failed: int
    skipped: int
    error: str | None
    created_at: str | None
    finished_at: str | None


class ErrorBody(BaseModel):
    error: str
    detail: object
