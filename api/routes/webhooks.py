"""Webhooks: the delivery log, and a test event (operators only: they name where data goes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from pixseek.access.scopes import Scope
from pixseek.api.auth import requires
from pixseek.api.deps import SessionDep, SettingsDep
from pixseek.api.schemas.webhooks import DeliveryOut, TestEventOut
from pixseek.index.catalog.events import Event, WebhookDelivery

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], dependencies=[requires(Scope.ADMIN)])


@router.post("/test", response_model=TestEventOut, status_code=202)
def test_event(session: SessionDep, settings: SettingsDep) -> TestEventOut:
    """Record a `ping` event: every receiver configured for it gets one signed delivery."""
    event = Event(kind="ping", payload={"message": "a test event from pixseek"})
    session.add(event)
    session.flush()
    targets = sum("ping" in target.events for target in settings.webhooks.targets)
    return TestEventOut(event_id=event.id, targets=targets)


@router.get("/deliveries", response_model=list[DeliveryOut])
def deliveries(session: SessionDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[DeliveryOut]:
    """The most recent deliveries, newest first: status, attempts, the receiver's last answer."""
    rows = session.execute(
        select(WebhookDelivery, Event.kind)
        .join(Event, Event.id == WebhookDelivery.event_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    ).all()
    return [
        DeliveryOut(
            id=d.id,
            event_id=d.event_id,
            event=kind,
            target=d.target,
            status=d.status,
            attempts=d.attempts,
            last_status=d.last_status,
            last_error=d.last_error,
            created_at=d.created_at,
            delivered_at=d.delivered_at,
        )
        for d, kind in rows
    ]
