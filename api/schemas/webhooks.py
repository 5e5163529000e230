"""Webhook bodies: the delivery log."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class DeliveryOut(BaseModel):
    id: int
    event_id: int
    event: str = Field(
        description="job.finished, job.failed, duplicates.new_groups, saved_search.new_matches, ping"
    )
    target: str
    status: str = Field(
        description="pending, delivered, failed (attempts exhausted) or refused (host not allowed)"
    )
    attempts: int
    last_status: int | None = Field(description="The receiver's last HTTP status.")
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class TestEventOut(BaseModel):
    event_id: int
    targets: int = Field(
        description="Receivers configured for `ping` (deliveries follow within a second or so)."
    )
