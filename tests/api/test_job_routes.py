"""Ingest jobs over HTTP: start one, follow it to the end, and the ways to get it wrong."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pixseek.api.app import create_app
from pixseek.core.settings import Settings
from tests.support.api import JOB_KEYS, assert_error, wait_for
from tests.support.images import BAD_FILES, write_bad_files


@pytest.fixture
def client(settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    """The API, allowed to ingest folders under the test's tmp_path."""
    allowed = settings.model_copy(update={"ingest_roots": [tmp_path.resolve()]})
    with TestClient(create_app(allowed), raise_server_exceptions=False) as test_client:
        yield test_client


def test_job_runs_to_done_with_progress(client: TestClient, bucket: Path) -> None:
    write_bad_files(bucket)
    response = client.post("/v1/jobs", json={"path": str(bucket)})
    assert response.status_code == 202
    started = response.json()
    assert set(started) == JOB_KEYS
    assert (started["kind"], started["detection"]) == ("ingest", None)
    assert started["bucket"] == str(bucket.resolve())
    assert started["status"] in ("queued", "running", "done")

    seen = wait_for(client, started["job_id"])

    final = seen[-1]
    assert final["status"] == "done", final
    total = 6 + len(BAD_FILES)
    assert (final["total"], final["done"]) == (total, total)
    assert (final["indexed"], final["failed"], final["skipped"]) == (6, 9, 2)
    assert final["finished_at"] is not None and final["error"] is None
    assert all(0 <= doc["done"] <= max(doc["total"], 0) for doc in seen)
    assert [doc["done"] for doc in seen] == sorted(doc["done"] for doc in seen)
    results = client.post("/v1/search/text", json={"text": "x", "k": 3}).json()["results"]
    assert len(results) == 3


def test_second_job_over_the_same_bucket_finds_everything_unchanged(client: TestClient, bucket: Path) -> None:
    first = client.post("/v1/jobs", json={"path": str(bucket)}).json()["job_id"]
    assert wait_for(client, first)[-1]["indexed"] == 6
    second = client.post("/v1/jobs", json={"path": str(bucket)}).json()["job_id"]
    final = wait_for(client, second)[-1]
    assert (final["status"], final["unchanged"], final["indexed"], final["done"]) == ("done", 6, 0, 6)
    listed = client.get("/v1/jobs").json()
    # Newest first; the first ingest was followed by its enrich job, the second had nothing to enrich.
    assert [(job["job_id"], job["kind"]) for job in listed if job["kind"] == "ingest"] == [
        (second, "ingest"),
        (first, "ingest"),
    ]
    assert [job["kind"] for job in listed] == ["ingest", "enrich", "ingest"]
    assert len(client.get("/v1/jobs", params={"limit": 1}).json()) == 1


def test_bad_paths_are_4xx(client: TestClient, tmp_path: Path, bucket: Path) -> None:
    assert_error(client.post("/v1/jobs", json={"path": str(tmp_path / "nope")}), 404, "bucket_not_found")
    assert_error(client.post("/v1/jobs", json={"path": str(bucket / "img000.png")}), 404, "bucket_not_found")
    # Refused by the schema's pattern (422), as allowed_bucket would refuse them (400) below it.
    assert_error(client.post("/v1/jobs", json={"path": f"{tmp_path}/\x00evil"}), 422, "invalid_request")
    assert_error(client.post("/v1/jobs", json={"path": "bucket"}), 422, "invalid_request")  # relative
    assert_error(client.post("/v1/jobs", json={"path": "ftp://bucket/x"}), 422, "invalid_request")
    assert client.get("/v1/jobs").json() == []  # no job was created for any of them


def test_malformed_job_requests_are_422(client: TestClient) -> None:
    assert_error(client.post("/v1/jobs", json={"path": ""}), 422, "invalid_request")
    assert_error(client.post("/v1/jobs", json={}), 422, "invalid_request")
    assert_error(client.get("/v1/jobs", params={"limit": 0}), 422)
    assert_error(client.get("/v1/jobs", params={"limit": -1}), 422)


def test_unknown_job_is_404(client: TestClient) -> None:
    assert_error(client.get("/v1/jobs/0123456789abcdef"), 404, "job_not_found")


def test_by_default_the_api_ingests_nothing(settings: Settings, bucket: Path) -> None:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        body = assert_error(client.post("/v1/jobs", json={"path": str(bucket)}), 403, "ingest_not_allowed")
        assert "PIXSEEK_INGEST_ROOTS" in str(body["detail"])
        body = assert_error(
            client.post("/v1/jobs", json={"path": "s3://images/x"}), 403, "ingest_not_allowed"
        )
        assert "PIXSEEK_INGEST_BUCKETS" in str(body["detail"])
        assert client.get("/v1/jobs").json() == []


def test_paths_outside_the_ingest_roots_are_403(settings: Settings, tmp_path: Path, bucket: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "escape").symlink_to(bucket, target_is_directory=True)
    (allowed / "etc").symlink_to("/etc", target_is_directory=True)
    limited = settings.model_copy(update={"ingest_roots": [allowed.resolve()], "ingest_buckets": ["images"]})
    with TestClient(create_app(limited), raise_server_exceptions=False) as client:
        for path in [
            "/etc",
            str(bucket),
            str(allowed / ".." / "bucket"),
            str(allowed / ".." / ".." / ".." / ".." / "etc"),
            str(allowed / "escape"),
            str(allowed / "etc"),
            f"{allowed}/../{allowed.name}-sibling",  # a prefix of the root's name is not inside it
            f"file://{bucket}",
            f"FILE://{bucket}",
            "s3://other-bucket/photos",
            "S3://other-bucket",
        ]:
            body = assert_error(client.post("/v1/jobs", json={"path": path}), 403, "ingest_not_allowed")
            assert "PIXSEEK_INGEST_" in str(body["detail"]), path
        assert client.get("/v1/jobs").json() == []  # no job was created for any of them
        response = client.post("/v1/jobs", json={"path": str(allowed)})
        assert response.status_code == 202
        wait_for(client, response.json()["job_id"])


def test_a_symlink_inside_a_root_is_ingested_under_its_real_path(
    settings: Settings, tmp_path: Path, bucket: Path
) -> None:
    (tmp_path / "link").symlink_to(bucket, target_is_directory=True)
    allowed = settings.model_copy(update={"ingest_roots": [tmp_path.resolve()]})
    with TestClient(create_app(allowed), raise_server_exceptions=False) as client:
        response = client.post("/v1/jobs", json={"path": str(tmp_path / "link")})
        assert response.status_code == 202
        assert response.json()["bucket"] == str(bucket.resolve())
        assert wait_for(client, response.json()["job_id"])[-1]["indexed"] == 6
