"""Events for webhooks: recorded in the transaction that caused them (an outbox), delivered later.

A job finishing, new duplicate groups, new matches of a saved search: each records one
`events` row beside its own writes, so an event exists exactly when what it tells of was
committed. `index/webhooks.py` fans each event out to the receivers that want it (one
`webhook_deliveries` row per receiver) and delivers them in order, with retries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, Session, mapped_column

from pixseek.core.db import Base, UTCDateTime, utcnow
from pixseek.index.catalog.images import IdType


class DeliveryStatus:
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # max attempts reached
    REFUSED = "refused"  # the receiver's host is not in PIXSEEK_WEBHOOKS__ALLOWED_HOSTS: never requested


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    fanned_out: Mapped[bool] = mapped_column(Boolean, default=False)


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("event_id", "target", name="uq_webhook_deliveries_event_target"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(IdType, ForeignKey("events.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def record_event(session: Session, kind: str, payload: dict[str, Any]) -> None:
    """Record an event in the caller's transaction (committed with what it tells of)."""
    session.add(Event(kind=kind, payload=payload))
