"""The per-key rate limit over HTTP: 429 with Retry-After, per key, on an injected clock (no sleeping)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from pixseek.access.authenticator import Authenticator
from pixseek.access.keys import create_key
from pixseek.access.scopes import Scope
from pixseek.api.app import create_app
from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from tests.support.api import assert_error


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _client(settings: Settings, clock: Clock, per_second: float, burst: int) -> TestClient:
    limited = settings.model_copy(update={"rate_limit_per_second": per_second, "rate_limit_burst": burst})
    app = create_app(limited)
    app.state.access = Authenticator(limited, clock=clock)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def two_keys(settings: Settings) -> tuple[str, str]:
    with session_scope(settings) as session:
        return create_key(session, "a", Scope.SEARCH)[1], create_key(session, "b", Scope.SEARCH)[1]


def test_past_the_burst_a_key_gets_429_with_retry_after(
    settings: Settings, clock: Clock, two_keys: tuple[str, str]
) -> None:
    first, second = ({"Authorization": f"Bearer {key}"} for key in two_keys)
    with _client(settings, clock, per_second=0.5, burst=3) as client:
        for _ in range(3):
            assert client.get("/v1/status", headers=first).status_code == 200
        refused = client.get("/v1/status", headers=first)
        body = assert_error(refused, 429, "rate_limited")
        assert refused.headers["retry-after"] == "2"  # one token at 0.5 per second
        assert "retry in 2 s" in str(body["detail"])
        # Another key has its own bucket; health is never limited.
        assert client.get("/v1/status", headers=second).status_code == 200
        assert client.get("/v1/health").status_code == 200

        clock.now += 1.0  # half a token: still refused, a second to go
        refused = client.get("/v1/status", headers=first)
        assert (refused.status_code, refused.headers["retry-after"]) == (429, "1")
        clock.now += 1.0
        assert client.get("/v1/status", headers=first).status_code == 200
        assert client.get("/v1/status", headers=first).status_code == 429


def test_a_request_counts_once_however_many_scopes_its_route_checks(
    settings: Settings, clock: Clock, two_keys: tuple[str, str]
) -> None:
    with session_scope(settings) as session:
        ingest_key = create_key(session, "ingest", Scope.INGEST)[1]
    headers = {"Authorization": f"Bearer {ingest_key}"}
    with _client(settings, clock, per_second=1.0, burst=2) as client:
        # detect checks its router's scope (search) and its own (ingest), and reads the caller again.
        assert client.post("/v1/duplicates/detect", json={}, headers=headers).status_code == 202
        assert client.get("/v1/jobs", headers=headers).status_code == 200
        assert_error(client.get("/v1/jobs", headers=headers), 429, "rate_limited")


def test_while_open_the_limit_is_per_client_address(settings: Settings, clock: Clock) -> None:
    with _client(settings, clock, per_second=1.0, burst=1) as client:
        assert client.get("/v1/status").status_code == 200
        refused = client.get("/v1/status")
        assert_error(refused, 429, "rate_limited")
        assert refused.headers["retry-after"] == "1"
