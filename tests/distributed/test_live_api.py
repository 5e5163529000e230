"""The API, started before anything is indexed, answers throughout and finds images ingested later."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pixseek.api.app import create_app
from pixseek.core.db import dispose_engines
from tests.support.cluster import Cluster, wait_until
from tests.support.images import write_images

pytestmark = [pytest.mark.services, pytest.mark.slow]


def _ingest(client: TestClient, path: Path) -> dict[str, object]:
    response = client.post("/v1/jobs", json={"path": str(path)})
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    jobs: list[dict[str, object]] = []

    def finished() -> bool:
        job = client.get(f"/v1/jobs/{job_id}")
        assert job.status_code == 200, job.text
        jobs.append(job.json())
        return jobs[-1]["status"] in ("done", "failed")

    wait_until(finished, f"job {job_id}", timeout=180)
    return jobs[-1]


def _search(client: TestClient, image: Path) -> list[str]:
    with image.open("rb") as fh:
        files = {"file": (image.name, fh, "image/png")}
        response = client.post("/v1/search/image", files=files, data={"k": 3})
    assert response.status_code == 200, response.text
    return [hit["key"] for hit in response.json()["results"]]


def test_api_sees_images_ingested_after_it_started(cluster: Cluster, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    write_images(first, 4)
    write_images(second, 4, start=50)
    cluster.wait_ready(cluster.start_worker())

    allowed = cluster.settings.model_copy(update={"ingest_roots": [tmp_path.resolve()]})
    with TestClient(create_app(allowed)) as client:
        client.app.state.warmup.wait()  # type: ignore[attr-defined]
        assert client.post("/v1/search/text", json={"text": "x"}).json()["error"] == "index_not_ready"
        # Ready before anything is indexed, and says so; the broker and PostgreSQL answer.
        ready = client.get("/v1/ready")
        assert ready.status_code == 200, ready.text
        checks = ready.json()["checks"]
        assert (checks["database"], checks["broker"]) == ("ok", "ok")
        assert checks["index"].startswith("empty")

        # POST /v1/jobs only records the job; a worker plans and runs it.
        job = _ingest(client, first)
        assert job["status"] == "done" and job["indexed"] == 4, cluster.log_tail()
        assert _search(client, first / "img002.png")[0] == "img002.png"

        # Search continuously while the workers publish the next generation.
        errors: list[str] = []
        answered: list[int] = []
        stop = threading.Event()

        def keep_searching() -> None:
            while not stop.wait(0.05):
                response = client.post("/v1/search/text", json={"text": "blocks", "k": 5})
                if response.status_code != 200:
                    errors.append(response.text)
                answered.append(len(response.json().get("results", [])))

        searcher = threading.Thread(target=keep_searching)
        searcher.start()
        try:
            job = _ingest(client, second)
        finally:
            stop.set()
            searcher.join()
        assert job["status"] == "done" and job["indexed"] == 4, cluster.log_tail()
        assert errors == []
        assert answered and min(answered) >= 4  # every search found at least the first images

        # The same app, never restarted, now serves the new generation.
        wait_until(lambda: _search(client, second / "img051.png")[0] == "img051.png", "the new generation")
        status = client.get("/v1/status").json()
        assert status["mode"] == "distributed"
        assert status["index"]["count"] == 8
        listed = client.get("/v1/jobs").json()
        # Each ingest was followed by an enrich job on its own queue (they may still run).
        assert [j["status"] for j in listed if j["kind"] == "ingest"] == ["done", "done"]
        assert {j["kind"] for j in listed} <= {"ingest", "enrich"}
        assert client.get("/v1/ready").json()["checks"]["index"] == "generation 2 loaded, 8 vectors"
        # The queue is measured in Redis, and is empty once the jobs are done.
        queue = cluster.settings.queue
        assert f'pixseek_queue_messages{{queue="{queue}"}} 0.0' in client.get("/metrics").text
    dispose_engines()
