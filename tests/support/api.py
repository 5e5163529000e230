"""Checks every API test makes: the error body, a job's document, waiting for a job to end."""

from __future__ import annotations

import time
from typing import Any

import httpx
from fastapi.testclient import TestClient


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


JOB_KEYS = {
    "job_id", "kind", "bucket", "status", "total", "done", "indexed", "unchanged", "deleted",
    "failed", "skipped", "cancelled", "error", "detection", "ocr", "enrich", "curation", "created_at",
    "finished_at",
}  # fmt: skip


def wait_for(client: TestClient, job_id: str, timeout: float = 120.0) -> list[dict[str, Any]]:
    """Every distinct progress document of a job (ingest or detection) seen until it ends."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        if not seen or body != seen[-1]:
            seen.append(body)
        if body["status"] in ("done", "failed"):
            return seen
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {seen[-1]}")
