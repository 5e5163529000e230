"""The duplicates HTTP API, including 4xx answers to bad input, and detection as a job."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import pixseek.search.duplicates.jobs as jobs
from pixseek.api.app import create_app
from pixseek.core.broker import celery_for
from pixseek.core.settings import Settings
from pixseek.ingest.run import run_ingest
from pixseek.ingest.signatures import BACKFILL_TASK
from pixseek.search.duplicates.jobs import DETECT_TASK
from tests.support.api import JOB_KEYS, wait_for
from tests.support.photos import EDITS, jpeg, photo


@pytest.fixture
def ingested(settings: Settings, dup_bucket: Path) -> Iterator[TestClient]:
    """The API over the ingested bucket, before any detection."""
    run_ingest(settings, str(dup_bucket))
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def client(ingested: TestClient) -> TestClient:
    """The same once a detection job has run."""
    response = ingested.post("/v1/duplicates/detect", json={})
    assert response.status_code == 202
    assert wait_for(ingested, response.json()["job_id"])[-1]["status"] == "done"
    return ingested


def test_detect_returns_202_and_the_job_reaches_done_with_its_summary(ingested: TestClient) -> None:
    response = ingested.post("/v1/duplicates/detect", json={"full": True})
    assert response.status_code == 202
    started = response.json()
    assert set(started) == JOB_KEYS
    assert started["kind"] == "duplicates" and started["status"] in ("queued", "running", "done")
    final = wait_for(ingested, started["job_id"])[-1]
    assert final["status"] == "done" and final["error"] is None and final["finished_at"]
    detection = final["detection"]
    assert detection == {
        "images": 11,
        "compared": 11,
        "pairs_found": detection["pairs_found"],
        "backfilled": 0,
        "groups": {"exact": 1, "near": 1, "contained": 0, "similar": 0},
    }
    assert detection["pairs_found"] > 0
    listed = ingested.get("/v1/jobs").json()
    assert [(job["kind"], job["status"]) for job in listed] == [
        ("duplicates", "done"),
        ("enrich", "done"),  # signatures came with the ingest's enrich job: none to backfill
        ("ingest", "done"),
    ]
    assert listed[0]["job_id"] == started["job_id"] and listed[2]["detection"] is None
    assert ingested.get("/v1/duplicates/groups").json()["total"] == 2


def test_a_failing_detection_job_records_its_error(
    ingested: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("comparison blew up")

    monkeypatch.setattr(jobs, "detect", broken)
    response = ingested.post("/v1/duplicates/detect", json={})
    assert response.status_code == 202
    final = wait_for(ingested, response.json()["job_id"])[-1]
    assert (final["status"], final["error"], final["detection"]) == (
        "failed",
        "RuntimeError: comparison blew up",
        None,
    )
    assert final["finished_at"] is not None


def test_with_a_broker_detection_is_sent_to_the_workers(settings: Settings) -> None:
    queue = f"pixseek-test-{uuid.uuid4().hex[:8]}"
    cluster = settings.model_copy(
        update={"broker_url": "memory://", "queue": queue, "index_queue": f"{queue}-writer"}
    )
    with TestClient(create_app(cluster)) as client:
        response = client.post("/v1/duplicates/detect", json={"full": True})
        assert response.status_code == 202
        job = response.json()
        assert (job["kind"], job["status"]) == ("duplicates", "queued")  # the workers run it
    with celery_for(cluster).connection_for_read() as conn:
        sent = conn.SimpleQueue(queue)
        message = sent.get(timeout=5)
        message.ack()
        sent.close()
    args, _, embed = message.payload
    assert (message.headers["task"], args) == (BACKFILL_TASK, [job["job_id"]])
    (then,) = embed["callbacks"]
    assert (then["task"], then["args"], then["immutable"]) == (DETECT_TASK, [job["job_id"], True], True)
    assert then["options"]["queue"] == f"{queue}-writer"


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
            415,  # an empty upload is no image
            "unsupported_image",
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
