"""Every response carries a request id; an unexpected error shows only that id, never internals."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from pixseek.api.app import create_app
from pixseek.core.errors import BrokerUnavailable, ConfigError
from pixseek.core.redact import hide_passwords
from pixseek.core.settings import Settings
from tests.support.api import assert_error


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


def test_a_server_fault_answers_its_kind_without_paths_or_passwords(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings)

    @app.get("/misconfigured")
    def misconfigured() -> None:
        raise ConfigError("checkpoint file not found: /srv/secret/weights.pt")

    @app.get("/broker")
    def broker() -> None:
        raise BrokerUnavailable("cannot send tasks to the broker (redis://:hunter2@10.0.0.5:6379/0): refused")

    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR):
        config = client.get("/misconfigured")
        down = client.get("/broker", headers={"x-request-id": "req-7"})
    assert_error(config, 500, "config_error")
    assert "/srv/secret" not in config.text
    body = assert_error(down, 503, "broker_unavailable")
    assert "req-7" in str(body["detail"]) and "hunter2" not in down.text and "10.0.0.5" not in down.text
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "/srv/secret/weights.pt" in logged and "hunter2" not in logged and ":***@10.0.0.5" in logged


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("redis://:pw@host:6379/0", "redis://:***@host:6379/0"),
        ("postgresql+psycopg://app:s3cr%40t@db/pixseek", "postgresql+psycopg://app:***@db/pixseek"),
        ("no url here", "no url here"),
        ("redis://host:6379 and amqp://u:p@q//", "redis://host:6379 and amqp://u:***@q//"),
    ],
)
def test_passwords_are_hidden_in_urls(text: str, shown: str) -> None:
    assert hide_passwords(text) == shown
