"""Webhooks: signed, retried in order past a receiver that fails half the time, logged, and
never sent to a host outside the allow-list."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select

from pixseek.core.db import dispose_engines, migrate, session_scope
from pixseek.core.settings import Settings
from pixseek.index.catalog.events import DeliveryStatus, Event, WebhookDelivery, record_event
from pixseek.index.webhooks import deliver_due
from tests.support.settings import make_settings

SECRET = "s3cret"


class Receiver:
    """A loopback HTTP receiver that answers 500 to every other request, and records the rest."""

    def __init__(self, host: str, flaky: bool) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.accepted: list[dict[str, object]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                ok = not flaky or len(receiver.requests) % 2 == 0
                if ok:
                    receiver.accepted.append({"headers": dict(self.headers), "body": json.loads(body)})
                self.send_response(200 if ok else 500)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    inside, outside = Receiver("127.0.0.1", flaky=True), Receiver("127.0.0.2", flaky=False)
    yield inside, outside
    inside.close()
    outside.close()


def _settings(root: Path, inside: Receiver, outside: Receiver) -> Settings:
    host = inside.url.split("/")[2]  # 127.0.0.1:PORT: the only host allowed
    webhooks = {
        "targets": [{"url": inside.url, "secret": SECRET}, {"url": outside.url, "secret": SECRET}],
        "allowed_hosts": [host],
        "backoff_seconds": 0.01,
    }
    settings = make_settings(root).model_copy(update={"webhooks": Settings(webhooks=webhooks).webhooks})  # type: ignore[arg-type]
    migrate(settings)
    return settings


def test_deliveries_are_signed_in_order_once_and_only_inside_the_allow_list(
    tmp_path: Path, receivers: tuple[Receiver, Receiver]
) -> None:
    inside, outside = receivers
    settings = _settings(tmp_path, inside, outside)
    with session_scope(settings) as session:
        for i in range(6):
            record_event(session, "job.finished", {"job_id": f"job-{i}"})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        deliver_due(settings)
        with session_scope(settings) as session:
            pending = session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.status == DeliveryStatus.PENDING)
            ).all()
        if not pending:
            break
        time.sleep(0.02)

    # All six delivered, in order, each once; half the requests failed and were retried.
    assert [a["body"]["data"]["job_id"] for a in inside.accepted] == [f"job-{i}" for i in range(6)]  # type: ignore[index]
    assert len(inside.requests) == 12
    for accepted in inside.accepted:
        headers, body = accepted["headers"], accepted["body"]
        assert isinstance(headers, dict) and isinstance(body, dict)
        raw = json.dumps(body, separators=(",", ":")).encode()
        expected = hmac.new(
            SECRET.encode(), headers["X-Pixseek-Timestamp"].encode() + b"." + raw, hashlib.sha256
        )
        assert headers["X-Pixseek-Signature"] == f"sha256={expected.hexdigest()}"
        assert headers["X-Pixseek-Event"] == "job.finished"
    # Nothing was ever sent outside the allow-list: those deliveries are logged as refused.
    assert outside.requests == []
    with session_scope(settings) as session:
        log = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
        assert {d.status for d in log if d.target == outside.url} == {DeliveryStatus.REFUSED}
        inside_log = [d for d in log if d.target == inside.url]
        assert all(d.status == DeliveryStatus.DELIVERED and d.attempts == 2 for d in inside_log)
        assert session.scalar(select(Event.id).where(Event.fanned_out.is_(False))) is None

    # A restart (a new pass, a new client) sends nothing twice.
    deliver_due(settings)
    assert len(inside.requests) == 12
    dispose_engines()


def test_an_ingest_records_its_job_event(settings: Settings, indexed: Path) -> None:
    with session_scope(settings) as session:
        kinds = [e.kind for e in session.scalars(select(Event))]
    assert "job.finished" in kinds
