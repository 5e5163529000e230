"""API fixtures: a TestClient on `create_app(settings)`, with or without an index."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from pixseek.api.app import create_app
from pixseek.core.settings import Settings
from pixseek.ingest.run import run_ingest


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, object]:
    """Every error is JSON `{"error", "detail"}` with the given 4xx status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert body["detail"]
    if code is not None:
        assert body["error"] == code
    return body  # type: ignore[no-any-return]


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    # raise_server_exceptions=False: a 500 must show up as a response the tests can reject.
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def indexed(settings: Settings, bucket: Path) -> Path:
    """The `bucket` fixture ingested; returns its folder."""
    run_ingest(settings, str(bucket))
    return bucket
