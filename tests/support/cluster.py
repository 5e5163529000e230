"""A cluster in a test: real `pixseek worker` processes over PostgreSQL and Redis, and checks
that a catalog and its index hold every image exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
from sqlalchemy import select

from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image, ImageVector
from pixseek.index.vectors.store import IndexStore, index_ids
from tests.support.settings import TEST_ENV

REPO_ROOT = Path(__file__).resolve().parents[2]
# Generous: only a hang guard on a loaded 2-core machine, never a timing assertion.
WAIT_SECONDS = 300.0


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


@dataclass
class Cluster:
    """Environment and worker processes of one distributed test: its database, queue, data dir."""

    env: dict[str, str]
    settings: Settings
    logs: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _log_files: list[IO[bytes]] = field(default_factory=list)

    def start_worker(
        self, *, module: str = "pixseek", extra_env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """A real `pixseek worker` process (solo pool: one task at a time, least memory)."""
        n = len(self.workers)
        log = open(self.logs / f"worker{n}.log", "wb")  # noqa: SIM115 (closed in stop())
        self._log_files.append(log)
        name = f"w{n}-{uuid.uuid4().hex[:6]}"
        proc = subprocess.Popen(
            [sys.executable, "-m", module, "worker", "--pool", "solo", "--hostname", name],
            cwd=REPO_ROOT,
            env={**self.env, **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers.append(proc)
        return proc

    def wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        """Until the worker consumes (Celery logs `ready.`); fails if it exits first."""
        log = self.logs / f"worker{self.workers.index(proc)}.log"

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"worker exited with {proc.returncode}:\n{self.log_tail()}")
            return " ready." in log.read_text(errors="replace")

        wait_until(ready, "a worker to start")

    def pixseek(self, *args: str, timeout: float = WAIT_SECONDS) -> subprocess.CompletedProcess[str]:
        """Run `python -m pixseek ARGS` from the worktree with the cluster's environment."""
        return subprocess.run(
            [sys.executable, "-m", "pixseek", *args],
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def log_tail(self, chars: int = 4000) -> str:
        parts = []
        for path in sorted(self.logs.glob("worker*.log")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    def stop(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.workers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
        for log in self._log_files:
            log.close()


def cluster_env(data_dir: Path, database_url: str, broker_url: str, queue: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXSEEK_")}
    env.update(TEST_ENV)
    env.update(
        {
            "PIXSEEK_DATA_DIR": str(data_dir),
            "PIXSEEK_DATABASE_URL": database_url,
            "PIXSEEK_BROKER_URL": broker_url,
            "PIXSEEK_QUEUE": queue,
            # The enrich jobs that follow each ingest: a queue of this cluster's own too.
            "PIXSEEK_ENRICH_QUEUE": f"{queue}-enrich",
            # Small batches so a few images make several tasks for the workers to share.
            "PIXSEEK_TASK_BATCH_SIZE": "4",
            "PIXSEEK_BATCH_SIZE": "2",
            "PIXSEEK_DECODE_WORKERS": "1",
            "PIXSEEK_TORCH_THREADS": "1",
            "PIXSEEK_AUTO_MIGRATE": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@dataclass
class Snapshot:
    """A catalog and its index, keyed by (bucket-relative) key so two databases compare."""

    rows: dict[str, tuple[str, str | None]]  # key -> (status, sha256)
    vectors: dict[str, np.ndarray]  # key -> CLS vector from SQL
    index: dict[str, np.ndarray]  # key -> vector held by the FAISS index
    index_ids: list[int]
    searchable_ids: list[int]


def snapshot(settings: Settings, bucket: str) -> Snapshot:
    with session_scope(settings) as session:
        images = list(session.scalars(select(Image).where(Image.bucket == bucket)))
        keys = {img.id: img.key for img in images}
        vectors = {
            keys[int(image_id)]: np.frombuffer(blob, dtype="<f4")
            for image_id, blob in session.execute(
                select(ImageVector.image_id, ImageVector.vector).where(ImageVector.image_id.in_(list(keys)))
            )
        }
        searchable = sorted(img.id for img in images if img.status == "indexed")
    loaded = IndexStore(settings.index_dir).load()
    assert loaded is not None, "no index was published"
    ids = [int(i) for i in index_ids(loaded.index)]
    index = {keys[i]: loaded.index.reconstruct(i) for i in ids if i in keys}
    return Snapshot(
        rows={img.key: (img.status, img.sha256) for img in images},
        vectors=vectors,
        index=index,
        index_ids=[i for i in ids if i in keys],
        searchable_ids=searchable,
    )


def assert_same_catalog(a: Snapshot, b: Snapshot) -> None:
    assert a.rows == b.rows
    assert set(a.vectors) == set(b.vectors)
    for key, vector in a.vectors.items():
        np.testing.assert_allclose(vector, b.vectors[key], atol=1e-5, err_msg=key)
    assert set(a.index) == set(b.index)
    for key, vector in a.index.items():
        np.testing.assert_allclose(vector, b.index[key], atol=1e-5, err_msg=key)


def assert_indexed_once(snap: Snapshot) -> None:
    """Every indexed image is in the index exactly once, and nothing else is."""
    assert len(snap.index_ids) == len(set(snap.index_ids)), "an id is twice in the index"
    assert sorted(snap.index_ids) == snap.searchable_ids
    assert set(snap.vectors) == {k for k, (status, _) in snap.rows.items() if status == "indexed"}
