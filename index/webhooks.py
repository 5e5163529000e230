"""Webhook delivery: events fanned out to receivers, signed, POSTed in order, retried with backoff.

`deliver_due` does one pass; `WebhookDispatcher` runs passes on a thread of the API process
(started by `create_app`), so an ingest only ever records an event and never waits on a
receiver. Per receiver, deliveries go in event order: a failing one is retried after
`backoff_seconds x 2^(attempt-1)` and holds back the later ones until it is delivered or
has failed `max_attempts` times. A delivery is marked delivered in the catalog as soon as
its receiver answers 2xx; `X-Pixseek-Delivery` carries its id, so a receiver can drop the
duplicate a crash between the answer and that mark would cause.

Only hosts in `PIXSEEK_WEBHOOKS__ALLOWED_HOSTS` are ever requested: a target elsewhere has
its deliveries marked refused and no request is made; redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select

from pixseek.core.db import session_scope, utcnow
from pixseek.core.settings import Settings, WebhookTarget
from pixseek.index.catalog.events import DeliveryStatus, Event, WebhookDelivery

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 3600.0


def allowed(url: str, hosts: list[str]) -> bool:
    """Whether `url`'s host (or host:port) is on the allow-list."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname in hosts or f"{parts.hostname}:{port}" in hosts


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` and the hex HMAC-SHA256 of `timestamp.body` under the receiver's secret."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def fan_out(settings: Settings) -> int:
    """One delivery row per (event, receiver that wants it); refused where the host is not allowed."""
    hosts = settings.webhooks.allowed_hosts
    made = 0
    with session_scope(settings) as session:
        for event in session.scalars(select(Event).where(Event.fanned_out.is_(False)).order_by(Event.id)):
            for target in settings.webhooks.targets:
                if event.kind not in target.events:
                    continue
                ok = allowed(target.url, hosts)
                session.add(
                    WebhookDelivery(
                        event_id=event.id,
                        target=target.url,
                        status=DeliveryStatus.PENDING if ok else DeliveryStatus.REFUSED,
                        last_error=None if ok else "host not in PIXSEEK_WEBHOOKS__ALLOWED_HOSTS",
                    )
                )
                made += 1
            event.fanned_out = True
    return made


def _send(client: httpx.Client, target: WebhookTarget, delivery: WebhookDelivery, event: Event) -> int:
    body = json.dumps(
        {
            "id": event.id,
            "event": event.kind,
            "created_at": event.created_at.isoformat(),
            "data": event.payload,
        },
        separators=(",", ":"),
    ).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "pixseek-webhooks",
        "X-Pixseek-Event": event.kind,
        "X-Pixseek-Delivery": str(delivery.id),
        "X-Pixseek-Timestamp": timestamp,
        "X-Pixseek-Signature": signature(target.secret.get_secret_value(), timestamp, body),
    }
    return client.post(target.url, content=body, headers=headers).status_code


def deliver_due(settings: Settings, client: httpx.Client | None = None) -> int:
    """Fan out new events, then deliver what is due, in order per receiver; deliveries made."""
    fan_out(settings)
    config = settings.webhooks
    own = client is None
    client = client or httpx.Client(timeout=config.timeout_seconds, follow_redirects=False)
    delivered = 0
    try:
        for target in config.targets:
            if not allowed(target.url, config.allowed_hosts):
                continue
            delivered += _deliver_target(settings, client, target)
    finally:
        if own:
            client.close()
    return delivered


def _deliver_target(settings: Settings, client: httpx.Client, target: WebhookTarget) -> int:
    config = settings.webhooks
    delivered = 0
    while True:
        with session_scope(settings) as session:
            row = session.execute(
                select(WebhookDelivery, Event)
                .join(Event, Event.id == WebhookDelivery.event_id)
                .where(WebhookDelivery.target == target.url, WebhookDelivery.status == DeliveryStatus.PENDING)
                .order_by(WebhookDelivery.event_id)
                .limit(1)
            ).first()
            if row is None:
                return delivered
            delivery, event = row
            if delivery.next_attempt_at > utcnow():
                return delivered  # the oldest is waiting for its retry: the later ones wait too
            delivery.attempts += 1
            try:
                status = _send(client, target, delivery, event)
                error = None if 200 <= status < 300 else f"HTTP {status}"
            except httpx.HTTPError as exc:
                status, error = None, f"{type(exc).__name__}: {exc}"[:500]
            delivery.last_status, delivery.last_error = status, error
            if error is None:
                delivery.status, delivery.delivered_at = DeliveryStatus.DELIVERED, utcnow()
                delivered += 1
                continue
            if delivery.attempts >= config.max_attempts:
                delivery.status = DeliveryStatus.FAILED
                log.warning("webhooks.failed delivery=%s target=%s error=%s", delivery.id, target.url, error)
                continue
            wait = min(MAX_BACKOFF_S, config.backoff_seconds * 2 ** (delivery.attempts - 1))
            delivery.next_attempt_at = utcnow() + timedelta(seconds=wait)
            return delivered


class WebhookDispatcher:
    """Delivery passes every `interval` seconds on a daemon thread, while webhooks are configured."""

    def __init__(self, settings: Settings, interval: float = 1.0) -> None:
        self.settings = settings
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self.settings.webhooks.targets or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="pixseek-webhooks", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=self.settings.webhooks.timeout_seconds, follow_redirects=False) as client:
            while not self._stop.wait(self.interval):
                try:
                    deliver_due(self.settings, client)
                except Exception:  # a database hiccup: the next pass tries again
                    log.exception("webhooks.pass_failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
