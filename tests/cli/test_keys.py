"""`pixseek keys` and what `pixseek serve` does with them: open on loopback, refused elsewhere."""

from __future__ import annotations

import json
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from pixseek.access.keys import PREFIX_LENGTH, ApiKey, hash_key
from pixseek.api.app import create_app
from pixseek.cli import main
from pixseek.core.db import session_scope
from pixseek.core.settings import Settings, get_settings

BOOTSTRAP = "b7" * 32


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def create(name: str, scope: str) -> dict[str, Any]:
    result = run("keys", "create", "--name", name, "--scope", scope, "--json")
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What `pixseek serve` handed to uvicorn, instead of serving."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append({"app": app, **kwargs}))
    return calls


def test_create_prints_the_key_once_and_stores_only_its_hash(settings: Settings) -> None:
    result = run("keys", "create", "--name", "web", "--scope", "search")
    assert result.exit_code == 0, result.stderr
    key = result.stdout.strip()
    assert result.stdout == key + "\n" and key.startswith("pxs_") and len(key) == 47
    assert "cannot be shown again" in result.stderr and key not in result.stderr
    with session_scope(settings) as session:
        (row,) = session.query(ApiKey).all()
        assert (row.prefix, row.key_hash, row.name, row.scope) == (
            key[:PREFIX_LENGTH],
            hash_key(key),
            "web",
            "search",
        )
    listed = run("keys", "list", "--json")
    assert key not in listed.stdout and hash_key(key) not in listed.stdout
    (entry,) = json.loads(listed.stdout)["keys"]
    assert entry["prefix"] == key[:PREFIX_LENGTH] and entry["revoked_at"] is None


def test_the_printed_key_opens_the_api_until_it_is_revoked(settings: Settings) -> None:
    key = create("app", "search")["key"]
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        headers = {"Authorization": f"Bearer {key}"}
        assert client.get("/v1/status", headers=headers).status_code == 200
        assert client.get("/v1/status").status_code == 401
        result = run("keys", "revoke", key[:PREFIX_LENGTH])
        assert result.exit_code == 0 and "revoked" in result.stderr
        assert client.get("/v1/status", headers=headers).status_code == 401
    listed = json.loads(run("keys", "list", "--json").stdout)["keys"]
    assert listed[0]["revoked_at"] is not None and listed[0]["last_used_at"] is not None
    text = run("keys", "list").stdout
    assert key[:PREFIX_LENGTH] in text and "revoked" in text and "app" in text


def test_revoke_is_idempotent_and_unknown_prefixes_are_an_error(settings: Settings) -> None:
    prefix = create("app", "ingest")["prefix"]
    first = json.loads(run("keys", "revoke", prefix, "--json").stdout)
    again = json.loads(run("keys", "revoke", prefix, "--json").stdout)
    assert first["revoked_at"] == again["revoked_at"] is not None
    missing = run("keys", "revoke", "pxs_nothere0")
    assert missing.exit_code == 2 and "no API key with prefix" in missing.stderr


def test_bad_names_and_scopes_are_refused(settings: Settings) -> None:
    assert run("keys", "create", "--name", "x", "--scope", "root").exit_code == 2
    blank = run("keys", "create", "--name", "  ", "--scope", "search")
    assert blank.exit_code == 2 and "name" in blank.stderr
    assert run("keys", "list").stdout.startswith("no keys")


def test_serve_on_loopback_without_keys_is_open_and_says_so(
    settings: Settings, served: list[dict[str, Any]]
) -> None:
    result = run("serve")
    assert result.exit_code == 0, result.stderr
    assert "http://127.0.0.1:8000: OPEN" in result.stderr
    (call,) = served
    assert (call["host"], call["port"], call["proxy_headers"]) == ("127.0.0.1", 8000, True)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "pixseek.example.org"])
def test_serve_elsewhere_without_a_key_refuses_and_says_how_to_make_one(
    settings: Settings, served: list[dict[str, Any]], host: str
) -> None:
    result = run("serve", "--host", host)
    assert result.exit_code == 2
    assert f"refusing to serve on {host} without an API key" in result.stderr
    assert "pixseek keys create" in result.stderr and "PIXSEEK_BOOTSTRAP_API_KEY" in result.stderr
    assert served == []


def test_serve_elsewhere_with_only_revoked_keys_refuses(
    settings: Settings, served: list[dict[str, Any]]
) -> None:
    run("keys", "revoke", create("old", "admin")["prefix"])
    assert run("serve", "--host", "0.0.0.0").exit_code == 2
    assert served == []


def test_serve_elsewhere_with_a_key_starts_and_passes_the_proxy_options(
    settings: Settings, served: list[dict[str, Any]]
) -> None:
    create("admin", "admin")
    result = run("serve", "--host", "0.0.0.0", "--port", "9000", "--forwarded-allow-ips", "10.0.0.5")
    assert result.exit_code == 0, result.stderr
    assert "http://0.0.0.0:9000: API keys required (1 active)" in result.stderr
    (call,) = served
    assert (call["host"], call["port"], call["forwarded_allow_ips"]) == ("0.0.0.0", 9000, "10.0.0.5")


def test_the_bootstrap_key_lets_docker_compose_serve_and_is_created_once(
    settings: Settings, served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXSEEK_BOOTSTRAP_API_KEY", BOOTSTRAP)
    get_settings.cache_clear()
    for _ in range(2):  # a restarted container finds its key and adds none
        assert run("serve", "--host", "0.0.0.0").exit_code == 0
    (entry,) = json.loads(run("keys", "list", "--json").stdout)["keys"]
    assert (entry["name"], entry["scope"], entry["prefix"]) == (
        "bootstrap",
        "admin",
        BOOTSTRAP[:PREFIX_LENGTH],
    )
    with TestClient(served[-1]["app"], raise_server_exceptions=False) as client:
        assert client.get("/v1/status", headers={"Authorization": f"Bearer {BOOTSTRAP}"}).status_code == 200
        assert client.get("/v1/status").status_code == 401

    # Revoked, it stays revoked on the next start: a new value is needed for a working key.
    run("keys", "revoke", BOOTSTRAP[:PREFIX_LENGTH])
    assert run("serve", "--host", "0.0.0.0").exit_code == 2
    monkeypatch.setenv("PIXSEEK_BOOTSTRAP_API_KEY", "c9" * 32)
    get_settings.cache_clear()
    assert run("serve", "--host", "0.0.0.0").exit_code == 0
    assert len(json.loads(run("keys", "list", "--json").stdout)["keys"]) == 2
