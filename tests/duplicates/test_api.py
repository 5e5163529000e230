"""The duplicates HTTP API, including 4xx answers to bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pixseek.api.app import create_app
from pixseek.core.settings import Settings
from pixseek.ingest.run import run_ingest
from tests.duplicates.photos import EDITS, jpeg, photo


@pytest.fixture
def client(settings: Settings, dup_bucket: Path) -> Iterator[TestClient]:
    run_ingest(settings, str(dup_bucket))
    with TestClient(create_app(settings)) as test_client:
        assert test_client.post("/v1/duplicates/detect", json={}).status_code == 200
        yield test_client


def test_list_filter_and_page(client: TestClient) -> None:
    body = client.get("/v1/duplicates/groups").json()
    assert body["total"] == 2 and {g["kind"] for g in body["groups"]} == {"exact", "near"}
    near = client.get("/v1/duplicates/groups", params={"kind": "near"}).json()
    assert [g["kind"] for g in near["groups"]] == ["near"]
    page = client.get("/v1/duplicates/groups", params={"limit": 1, "offset": 1}).json()
    assert len(page["groups"]) == 1 and page["groups"][0]["id"] == body["groups"][1]["id"]
    group = near["groups"][0]
    image = group["images"][0]
    assert set(image) >= {"id", "bucket", "key", "score", "reason"} and image["id"] == group["keep"]


def test_detail_resolve_and_dismiss(client: TestClient) -> None:
    groups = client.get("/v1/duplicates/groups").json()["groups"]
    exact = next(g for g in groups if g["kind"] == "exact")
    near = next(g for g in groups if g["kind"] == "near")
    assert client.get(f"/v1/duplicates/groups/{near['id']}").json() == near
    keep = [near["images"][1]["id"]]
    resolved = client.post(
        f"/v1/duplicates/groups/{near['id']}/resolve", json={"keep": keep, "action": "remove"}
    )
    assert resolved.status_code == 200
    assert [i["id"] for i in resolved.json()["images"] if i["role"] == "keep"] == keep
    dismissed = client.post(f"/v1/duplicates/groups/{exact['id']}/dismiss")
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"
    again = client.post(f"/v1/duplicates/groups/{exact['id']}/dismiss")
    assert again.status_code == 409 and again.json()["error"] == "group_decided"
    assert client.get("/v1/duplicates/groups").json()["total"] == 0


def test_check_upload(client: TestClient) -> None:
    mirrored = jpeg(EDITS["mirrored"](photo(1, (240, 180))))
    response = client.post("/v1/duplicates/check", files={"file": ("m.jpg", mirrored, "image/jpeg")})
    assert response.status_code == 200
    body = response.json()
    assert body["verdict"] == "near" and "beach.jpg" in {m["key"] for m in body["matches"]}
    fresh = client.post("/v1/duplicates/check", files={"file": ("n.jpg", jpeg(photo(77)), "image/jpeg")})
    assert fresh.json()["verdict"] == "none"


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status", "code"),
    [
        ("get", "/v1/duplicates/groups/999999", {}, 404, "group_not_found"),
        ("get", "/v1/duplicates/groups", {"params": {"kind": "blurry"}}, 422, "invalid_request"),
        ("get", "/v1/duplicates/groups", {"params": {"limit": 0}}, 422, "invalid_request"),
        ("post", "/v1/duplicates/groups/999999/dismiss", {}, 404, "group_not_found"),
        (
            "post",
            "/v1/duplicates/check",
            {"files": {"file": ("x.jpg", b"plain text", "image/jpeg")}},
            415,
            "unsupported_image",
        ),
        (
            "post",
            "/v1/duplicates/check",
            {"files": {"file": ("x.jpg", b"", "image/jpeg")}},
            400,
            "invalid_request",
        ),
        ("post", "/v1/duplicates/check", {}, 422, "invalid_request"),
    ],
)
def test_bad_input_is_a_4xx(
    client: TestClient,
    method: str,
    url: str,
    kwargs: dict[str, Any],
    status: int,
    code: str,
) -> None:
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == status
    assert response.json()["error"] == code


def test_resolve_rejects_bad_bodies(client: TestClient) -> None:
    group = client.get("/v1/duplicates/groups").json()["groups"][0]
    url = f"/v1/duplicates/groups/{group['id']}/resolve"
    assert client.post(url, json={"action": "delete"}).status_code == 422
    outsider = client.post(url, json={"keep": [123456]})
    assert outsider.status_code == 400 and outsider.json()["error"] == "invalid_request"
