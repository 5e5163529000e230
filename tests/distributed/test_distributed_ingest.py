"""Distributed ingest with real `pixseek worker` processes over Redis and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pixseek.core.settings import Settings
from pixseek.ingest.run import run_ingest
from tests.support.cluster import Cluster, assert_indexed_once, assert_same_catalog, snapshot
from tests.support.images import write_images

pytestmark = [pytest.mark.services, pytest.mark.slow]


def _bucket(folder: Path) -> Path:
    write_images(folder, 10)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 8)
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.mark.parametrize("n_workers", [1, 2])
def test_distributed_ingest_matches_embedded(
    n_workers: int, cluster: Cluster, settings: Settings, tmp_path: Path
) -> None:
    bucket = _bucket(tmp_path / "bucket")
    run_ingest(settings, str(bucket))  # embedded mode: SQLite, in this process
    expected = snapshot(settings, str(bucket.resolve()))

    for _ in range(n_workers):
        cluster.wait_ready(cluster.start_worker())
    result = cluster.pixseek("ingest", str(bucket), "--wait", "--json")
    assert result.returncode == 0, result.stderr + cluster.log_tail()
    summary = json.loads(result.stdout)
    assert summary["status"] == "done"
    assert summary["indexed"] == 10
    assert [f["key"] for f in summary["failed"]] == ["broken.png"]
    assert [s["key"] for s in summary["skipped"]] == ["notes.txt"]

    got = snapshot(cluster.settings, str(bucket.resolve()))
    assert_same_catalog(expected, got)
    assert_indexed_once(got)
    if n_workers == 2:
        # Both workers took batches (three batches of four images between two workers).
        served = [log.read_text() for log in sorted(cluster.logs.glob("worker*.log"))]
        assert all("pixseek.ingest.process_batch" in text and "succeeded" in text for text in served), (
            cluster.log_tail()
        )


def test_ingest_returns_job_id_at_once_and_jobs_lists_it(cluster: Cluster, tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    write_images(bucket, 3)
    # No worker yet: the command must return with the job queued, not wait for one.
    result = cluster.pixseek("ingest", str(bucket), "--json")
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)
    assert job["status"] == "running" and job["total"] == 3 and job["done"] == 0

    listed = json.loads(cluster.pixseek("jobs", "--json").stdout)["jobs"]
    assert [j["job_id"] for j in listed] == [job["job_id"]]

    cluster.start_worker()
    from pixseek.ingest.dispatch import wait_for_job

    final = wait_for_job(cluster.settings, job["job_id"], timeout=300)
    assert final.status == "done", cluster.log_tail()
    assert final.indexed == 3
    text = cluster.pixseek("jobs").stdout
    assert job["job_id"] in text and "done" in text
