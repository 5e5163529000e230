"""Every response carries a request id; an unexpected error shows only that id, never internals."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from pixseek.api.app import create_app
from pixseek.core.settings import Settings
from tests.api.conftest import assert_error


def test_every_response_has_a_request_id(client: TestClient) -> None:
    first = client.get("/v1/health").headers["x-request-id"]
    second = client.get("/v1/nowhere").headers["x-request-id"]
    assert first and second and first != second


def test_a_plain_request_id_from_the_client_is_kept_and_a_hostile_one_replaced(client: TestClient) -> None:
    assert (
        client.get("/v1/health", headers={"x-request-id": "proxy-123"}).headers["x-request-id"] == "proxy-123"
    )
    replaced = client.get("/v1/health", headers={"x-request-id": "a\tb" + "x" * 100}).headers["x-request-id"]
    assert replaced != "a\tb" + "x" * 100 and len(replaced) == 32


def test_an_unexpected_error_is_a_generic_500_with_the_request_id(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError(f"secret path {settings.data_dir} and password hunter2")

    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR):
        response = client.get("/boom", headers={"x-request-id": "req-42"})
    body = assert_error(response, 500, "internal_error")
    assert "req-42" in str(body["detail"])
    assert "hunter2" not in response.text and str(settings.data_dir) not in response.text
    assert any("req-42" in record.getMessage() for record in caplog.records)
