"""A live `pixseek serve` with API keys (uvicorn in a subprocess, the tiny random-weight model)
over a small ingested bucket: what the contract fuzzer and the client's live tests call."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.images import write_images
from tests.support.settings import TEST_ENV

START_TIMEOUT_S = 120.0
ADMIN_KEY = "pxk_live_admin_0123456789abcdef0123456789"
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LiveServer:
    url: str
    key: str  # an admin key (PIXSEEK_BOOTSTRAP_API_KEY): every route
    bucket: Path  # ingested: 6 images and a copy of one (a duplicate group), detected
    later: Path  # under the ingest root, not ingested yet: 2 images and a copy of img001.png
    data_dir: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_job(client: httpx.Client, job_id: str) -> dict[str, Any]:
    """The job once it has finished; fails the test when it failed or took too long."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("done", "failed", "cancelled"):
            assert job["status"] == "done", job
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


@contextmanager
def serve(env: dict[str, str], log_path: Path, api_key: str | None = None) -> Iterator[httpx.Client]:
    """`pixseek serve` from the checkout on a free port with `env`, answering /v1/health; a
    client on it (with `api_key` when given). Stopped on exit; its output goes to `log_path`."""
    port = free_port()
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-c", "from pixseek.cli import main; main()", "serve", "--port", str(port)],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60.0) as client:
                deadline = time.monotonic() + START_TIMEOUT_S
                while True:
                    try:
                        if client.get("/v1/health").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError("pixseek serve did not start:\n" + log_path.read_text())
                    time.sleep(0.1)
                yield client
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()


def ingest_and_detect(client: httpx.Client, folder: Path) -> None:
    """Ingest `folder` and detect duplicates through the API, waiting for both jobs."""
    started = client.post("/v1/jobs", json={"path": str(folder)})
    assert started.status_code == 202, started.text
    wait_job(client, started.json()["job_id"])
    detect = client.post("/v1/duplicates/detect", json={})
    assert detect.status_code == 202, detect.text
    wait_job(client, detect.json()["job_id"])


@contextmanager
def live_server(root: Path) -> Iterator[LiveServer]:
    """Start the server, ingest `root/photos/bucket` and detect duplicates through its API."""
    photos = root / "photos"
    write_images(photos / "bucket", 6)
    shutil.copy(photos / "bucket" / "img000.png", photos / "bucket" / "copy-of-img000.png")  # a group
    write_images(photos / "later", 2, start=50)
    shutil.copy(photos / "bucket" / "img001.png", photos / "later" / "copy-of-img001.png")
    data_dir = root / "data"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PIXSEEK_")},
        **TEST_ENV,
        "PIXSEEK_TORCH_THREADS": "1",
        "PIXSEEK_DATA_DIR": str(data_dir),
        "PIXSEEK_INGEST_ROOTS": json.dumps([str(photos)]),
        "PIXSEEK_BOOTSTRAP_API_KEY": ADMIN_KEY,
        "PIXSEEK_RATE_LIMIT_PER_SECOND": "1000000",
        "PIXSEEK_RATE_LIMIT_BURST": "1000000",
        "PYTHONPATH": str(REPO),
    }
    with serve(env, root / "serve.log", ADMIN_KEY) as client:
        ingest_and_detect(client, photos / "bucket")
        yield LiveServer(
            str(client.base_url).rstrip("/"), ADMIN_KEY, photos / "bucket", photos / "later", data_dir
        )
