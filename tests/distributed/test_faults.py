"""Faults a cluster meets in production, each run for real against servers of this module's own:
a Redis that restarts empty mid-job, a PostgreSQL stopped mid-ingest and mid-search, SIGTERM to a
worker mid-batch and to `pixseek serve` mid-request. Every image ends up indexed exactly once.

The workers take 0.25 s an image (tests/distributed/slow_worker.py), so a few tiny images make
a job that is certainly under way when the fault strikes. The recovery times are logged
(`faults.<fault> seconds=`) for docs/operations.md; the bounds asserted are the issue's (the job
done within 2 minutes of the fault clearing), never a measured figure.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pixseek.core.db import dispose_engines, migrate, session_scope
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image, ImageStatus
from pixseek.index.catalog.leases import TaskLease
from pixseek.ingest.dispatch import start_job, wait_for_job
from tests.support.cluster import REPO_ROOT, Cluster, assert_indexed_once, cluster_env, snapshot, wait_until
from tests.support.faults import OwnPostgres, OwnRedis, free_port, own_postgres, own_redis
from tests.support.images import write_images

pytestmark = [pytest.mark.services, pytest.mark.slow]
log = logging.getLogger(__name__)

# The bound: the job done within two minutes of the fault clearing.
RECOVERY_BOUND = 120.0
# The database is down this long (the operator tried 20 s; a shorter one keeps the
# suite fast and is no easier: every connection is cut, every new one refused). The figures in
# docs/operations.md come from PIXSEEK_TEST_OUTAGE_SECONDS=20 PIXSEEK_TEST_RECONCILE_SECONDS=60.
OUTAGE_SECONDS = float(os.environ.get("PIXSEEK_TEST_OUTAGE_SECONDS", "4"))
# Requests answered this long after the database is back may still carry the outage.
SETTLE_SECONDS = 3.0


@dataclass
class Faults:
    cluster: Cluster
    postgres: OwnPostgres
    redis: OwnRedis
    serve: subprocess.Popen[bytes] | None = None
    port: int = 0
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return self.cluster.settings


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faults]:
    root = tmp_path_factory.mktemp("faults")
    with own_postgres() as postgres, own_redis() as redis_server:
        url = postgres.create_database("pixseek")
        env = cluster_env(root / "data", url, redis_server.url, "pixseek-faults")
        env.update(
            {
                "PIXSEEK_TEST_SLOW_SECONDS": "0.25",
                # Short, so that the test is; docs/operations.md has the figures of the default.
                "PIXSEEK_RECONCILE_SECONDS": os.environ.get("PIXSEEK_TEST_RECONCILE_SECONDS", "3"),
                "PIXSEEK_SHUTDOWN_GRACE_SECONDS": "10",
            }
        )
        settings = Settings(
            **{k[len("PIXSEEK_") :].lower(): v for k, v in env.items() if k.startswith("PIXSEEK_")}  # type: ignore[arg-type]
        )
        migrate(settings)
        logs = root / "logs"
        logs.mkdir()
        cluster = Cluster(env=env, settings=settings, logs=logs)
        state = Faults(cluster, postgres, redis_server)
        state.workers = [cluster.start_worker(module="tests.distributed.slow_worker") for _ in range(2)]
        try:
            for worker in state.workers:
                cluster.wait_ready(worker)
            yield state
        finally:
            if state.serve is not None and state.serve.poll() is None:
                state.serve.kill()
            cluster.stop()
            dispose_engines()


def _count(settings: Settings, status: ImageStatus) -> int:
    with session_scope(settings) as session:
        return int(session.scalar(select(func.count()).select_from(Image).where(Image.status == status)) or 0)


def _ingest(faults: Faults, folder: Path, n: int, first: int = 0) -> str:
    write_images(folder, n, start=first)
    return start_job(faults.settings, str(folder)).job_id


def _all_indexed_once(faults: Faults, folder: Path, n: int) -> None:
    snap = snapshot(faults.settings, str(folder.resolve()))
    assert_indexed_once(snap)
    assert len(snap.rows) == n
    assert {status for status, _ in snap.rows.values()} == {"indexed"}


def test_broker_restarted_empty_mid_job_is_finished_by_the_reconciler(faults: Faults, tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    job_id = _ingest(faults, bucket, 16)
    wait_until(lambda: _count(faults.settings, ImageStatus.EMBEDDED) >= 2, "the job to be under way")
    faults.redis.restart_empty()  # every queued batch is gone; the running ones finish
    lost_at = time.monotonic()
    assert _count(faults.settings, ImageStatus.PENDING) > 0, "the broker was lost after the job ended"

    final = wait_for_job(faults.settings, job_id, timeout=RECOVERY_BOUND + 30)
    recovered = time.monotonic() - lost_at
    log.info("faults.broker_lost seconds=%.1f (Redis restarted empty -> job done)", recovered)
    assert final.status == "done", faults.cluster.log_tail()
    assert recovered < RECOVERY_BOUND
    assert final.indexed == 16
    _all_indexed_once(faults, bucket, 16)
    assert "recovery.job_resent" in faults.cluster.log_tail(100_000)


def _start_serve(faults: Faults) -> None:
    faults.port = free_port()
    log_file = open(faults.cluster.logs / "serve.log", "wb")  # noqa: SIM115 (lives with the process)
    faults.serve = subprocess.Popen(
        [sys.executable, "-m", "pixseek", "serve", "--port", str(faults.port)],
        cwd=REPO_ROOT,
        env=faults.cluster.env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )

    def ready() -> bool:
        assert faults.serve is not None and faults.serve.poll() is None, "pixseek serve exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{faults.port}/v1/ready", timeout=5) as response:
                return bool(response.status == 200)
        except (OSError, http.client.HTTPException):
            return False  # not listening yet, or not ready (503)

    wait_until(ready, "pixseek serve to be ready", timeout=120)


@dataclass
class Answer:
    at: float
    status: int  # 0: no answer within the client's timeout, or the connection failed
    retry_after: str | None
    error: str | None


def _search(port: int) -> Answer:
    at = time.monotonic()
    body = json.dumps({"text": "blocks", "k": 3}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/search/text", data=body, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return Answer(at, response.status, None, None)
    except urllib.error.HTTPError as exc:
        payload = json.loads(exc.read() or b"{}")
        return Answer(at, exc.code, exc.headers.get("Retry-After"), payload.get("error"))
    except (OSError, http.client.HTTPException) as exc:
        return Answer(at, 0, None, type(exc).__name__)


def test_database_restart_mid_ingest_and_mid_search(faults: Faults, tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    first = _ingest(faults, bucket, 4)
    assert wait_for_job(faults.settings, first, timeout=RECOVERY_BOUND).status == "done"
    _start_serve(faults)

    answers: list[Answer] = []
    stop = threading.Event()

    def keep_searching() -> None:
        while not stop.wait(0.05):
            answers.append(_search(faults.port))

    searcher = threading.Thread(target=keep_searching)
    searcher.start()
    try:
        job_id = _ingest(faults, bucket, 12, first=4)
        under_way = lambda: _count(faults.settings, ImageStatus.EMBEDDED) >= 1  # noqa: E731
        wait_until(under_way, "the second job to be under way")
        dispose_engines()  # this process's pool too: its connections die with the server
        down_at = time.monotonic()
        faults.postgres.stop()
        time.sleep(OUTAGE_SECONDS)  # the outage itself: nothing to poll for
        faults.postgres.start()
        up_at = time.monotonic()
        final = wait_for_job(faults.settings, job_id, timeout=RECOVERY_BOUND + 30)
        recovered = time.monotonic() - up_at
        wait_until(lambda: len([a for a in answers if a.at > up_at + SETTLE_SECONDS]) >= 5, "searches after")
    finally:
        stop.set()
        searcher.join()
    log.info(
        "faults.database_restart seconds=%.1f (database back -> job done) searches=%d of_which_503=%d",
        recovered,
        len(answers),
        sum(a.status == 503 for a in answers),
    )
    assert final.status == "done", faults.cluster.log_tail()
    assert recovered < RECOVERY_BOUND
    _all_indexed_once(faults, bucket, 16)

    assert all(a.status != 0 for a in answers), [a for a in answers if a.status == 0]  # none hung or was cut
    outside = [a for a in answers if not down_at - 0.5 <= a.at <= up_at + SETTLE_SECONDS]
    assert outside and {a.status for a in outside} == {200}, [a for a in outside if a.status != 200]
    inside = [a for a in answers if a.status != 200]
    assert inside, "no search met the outage"
    assert {(a.status, a.error) for a in inside} == {(503, "database_unavailable")}
    assert all(a.retry_after and int(a.retry_after) > 0 for a in inside)


def test_serve_sigterm_finishes_the_request_in_flight_and_refuses_new_ones(faults: Faults) -> None:
    assert faults.serve is not None and faults.serve.poll() is None
    body = json.dumps({"text": "blocks", "k": 3}).encode()
    head = (
        f"POST /v1/search/text HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", faults.port), timeout=30) as sock:
        sock.sendall(head + body[:5])  # in flight: the server waits for the rest of the body
        time.sleep(0.3)
        faults.serve.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()

        def refused() -> bool:
            try:
                socket.create_connection(("127.0.0.1", faults.port), timeout=2).close()
            except ConnectionRefusedError:
                return True
            return False

        wait_until(refused, "new connections to be refused", timeout=30)
        sock.sendall(body[5:])
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = sock.recv(65536)
            assert chunk, f"the connection was closed without an answer: {reply!r}"
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    # uvicorn shuts down, then raises the signal again so that the exit says what stopped it.
    assert faults.serve.wait(timeout=60) in (0, -signal.SIGTERM)
    assert "Finished server process" in (faults.cluster.logs / "serve.log").read_text()
    log.info("faults.serve_sigterm seconds=%.1f (SIGTERM -> process gone)", time.monotonic() - stopped_at)


def test_worker_sigterm_hands_back_its_batch_and_releases_its_lease(faults: Faults, tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    job_id = _ingest(faults, bucket, 8)

    def holder() -> str | None:
        """The worker process running a batch of this job."""
        with session_scope(faults.settings) as session:
            leases = session.scalars(select(TaskLease).where(TaskLease.holder.is_not(None))).all()
        holders = [lease.holder for lease in leases if lease.message["args"][0] == job_id]
        return holders[0] if holders else None

    wait_until(lambda: holder() is not None and _count(faults.settings, ImageStatus.EMBEDDED) >= 1, "a batch")
    name = holder()
    assert name is not None
    pid = int(name.rsplit(":", 1)[1])
    worker = next(w for w in faults.workers if w.pid == pid)
    worker.send_signal(signal.SIGTERM)
    stopped_at = time.monotonic()
    assert worker.wait(timeout=60) == 0
    exited = time.monotonic() - stopped_at
    with session_scope(faults.settings) as session:
        assert session.scalars(select(TaskLease).where(TaskLease.holder == name)).all() == []

    final = wait_for_job(faults.settings, job_id, timeout=RECOVERY_BOUND)
    done = time.monotonic() - stopped_at
    log.info("faults.worker_sigterm exited=%.1f done=%.1f (SIGTERM -> worker gone, job done)", exited, done)
    assert final.status == "done", faults.cluster.log_tail()
    _all_indexed_once(faults, bucket, 8)
    assert "ingest.batch_handed_back" in faults.cluster.log_tail(100_000)
