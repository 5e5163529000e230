"""`pixseek serve` loads the model in the background: alive at once, ready once loaded."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from pixseek.api.app import create_app
from pixseek.core.settings import Settings
from pixseek.model import encoder as encoder_module
from tests.support.api import assert_error


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Model loads wait until the test opens the gate."""
    opened = threading.Event()
    real = encoder_module.get_encoder

    def slow_get_encoder(settings: Settings) -> encoder_module.Encoder:
        assert opened.wait(30), "the test never opened the gate"
        return real(settings)

    monkeypatch.setattr("pixseek.search.service.get_encoder", slow_get_encoder)
    yield opened
    opened.set()


def test_alive_at_once_and_ready_only_once_the_model_is_loaded(
    settings: Settings, gate: threading.Event
) -> None:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert client.get("/v1/health").status_code == 200
        body = assert_error(client.get("/v1/ready"), 503, "not_ready")
        assert body["detail"] == {"model": "loading"}
        gate.set()
        assert client.app.state.warmup.wait(30)  # type: ignore[attr-defined]
        response = client.get("/v1/ready")
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["model"].startswith("loaded in ")


def test_a_model_that_cannot_load_is_not_ready_and_says_only_its_kind(settings: Settings) -> None:
    broken = settings.model_copy(update={"pretrained": "/no/such/checkpoint.pt"})
    with TestClient(create_app(broken), raise_server_exceptions=False) as client:
        assert client.app.state.warmup.wait(30)  # type: ignore[attr-defined]
        response = client.get("/v1/ready")
    body = assert_error(response, 503, "not_ready")
    assert body["detail"]["model"].startswith("failed to load (")  # type: ignore[index]
    assert "/no/such" not in response.text


def test_without_preload_the_model_loads_at_the_first_query(settings: Settings) -> None:
    lazy = settings.model_copy(update={"preload_model": False})
    with TestClient(create_app(lazy), raise_server_exceptions=False) as client:
        response = client.get("/v1/ready")
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["model"].startswith("loads at the first query")
