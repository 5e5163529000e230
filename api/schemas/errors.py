"""The one error body every 4xx and 5xx answer carries."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    """`{"error": code, "detail": ...}`: the code is stable (`image_not_found`, `rate_limited`, ...)."""

    model_config = ConfigDict(extra="forbid")

    error: str = Field(
        min_length=1, description="A stable, machine-readable code.", examples=["image_not_found"]
    )
    detail: Any = Field(
        description="What went wrong: a message, or for `invalid_request` (422) a list of "
        "`{loc, msg}` for each field that failed validation."
    )
