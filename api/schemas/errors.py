"""The one error body every 4xx and 5xx answer carries."""

from __future__ import annotations

from pydantic import BaseModel


class ErrorBody(BaseModel):
    error: str
    detail: object
