"""Crash safety: a worker killed with SIGKILL mid-job, and a new one started, lose and duplicate
nothing, and the killed worker's batch is done within a minute and a half, with default settings.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from pixseek.core.db import session_scope
from pixseek.index.catalog.images import Image, ImageStatus, ImageVector
from pixseek.index.vectors.patch_store import PatchStore
from pixseek.ingest.dispatch import wait_for_job
from tests.support.cluster import Cluster, assert_indexed_once, snapshot, wait_until
from tests.support.images import write_images

pytestmark = [pytest.mark.services, pytest.mark.slow]
log = logging.getLogger(__name__)

# Batches of 4 images, committed 2 at a time: the gate (img014) opens the second half of the
# fourth batch, so at the kill that batch has half its images committed and is unacknowledged.
GATE_KEY = "img014.png"
# The bound: the dead worker's batch back in work within about a minute. With the
# default 30 s lease it is sent again 30-40 s after the kill; the rest is slack for a loaded
# machine (the new worker's start, the batch, the index writer). Redis alone takes an hour.
RECOVERY_SECONDS = 90.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _worker_metric(port: int, name: str, **labels: str) -> float:
    """One sample of the worker's /metrics (0 when absent)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def _embedded(cluster: Cluster) -> int:
    with session_scope(cluster.settings) as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Image).where(Image.status == ImageStatus.EMBEDDED)
            )
            or 0
        )


def test_sigkill_mid_job_then_restart_indexes_every_image_once(cluster: Cluster, tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    write_images(bucket, 20)
    # A file that fails to decode; the rest of its batch (img004, img006, img007) still lands.
    (bucket / "img005.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)

    doomed = cluster.start_worker(
        module="tests.distributed.gated_worker", extra_env={"PIXSEEK_TEST_GATE_KEY": GATE_KEY}
    )
    cluster.wait_ready(doomed)
    result = cluster.pixseek("ingest", str(bucket), "--json")
    assert result.returncode == 0, result.stderr
    job_id = json.loads(result.stdout)["job_id"]

    # Batches 1-3 (one failed image among them) and the first half of batch 4 are committed.
    wait_until(lambda: _embedded(cluster) >= 13, "the first 13 images to be embedded", timeout=180)
    cluster.kill(doomed)
    killed_at = time.monotonic()
    with session_scope(cluster.settings) as session:
        pending = session.scalar(
            select(func.count()).select_from(Image).where(Image.status == ImageStatus.PENDING)
        )
    assert pending == 6, "the kill did not land in the middle of the job"
    assert (bucket / GATE_KEY).exists()

    # The batch's lease lapses; the new worker sends it again and runs it (default settings:
    # the broker itself would hand it out again only after its one-hour visibility timeout).
    port = _free_port()
    cluster.wait_ready(cluster.start_worker(extra_env={"PIXSEEK_WORKER_METRICS_PORT": str(port)}))
    final = wait_for_job(cluster.settings, job_id, timeout=300)
    recovered_in = time.monotonic() - killed_at
    assert final.status == "done", cluster.log_tail()
    log.info("crash.recovered seconds=%.1f (kill -> job done)", recovered_in)
    assert recovered_in < RECOVERY_SECONDS, f"done {recovered_in:.0f} s after the kill\n{cluster.log_tail()}"
    assert final.indexed == 19 and final.failed == 1

    snap = snapshot(cluster.settings, str(bucket.resolve()))
    assert_indexed_once(snap)
    assert len(snap.rows) == 20
    assert snap.rows["img005.png"][0] == "failed"
    with session_scope(cluster.settings) as session:
        assert session.scalar(select(func.count()).select_from(ImageVector)) == 19
        ids = list(session.scalars(select(Image.id).where(Image.status == ImageStatus.INDEXED)))
    patches = PatchStore(cluster.settings.patch_dir)
    assert all(patches.get(i) is not None for i in ids)
    # The batch sent again finished only the half the killed worker had not committed.
    worker_log = (cluster.logs / "worker1.log").read_text()
    assert re.search(r"process_batch\[[^]]+\] succeeded in [\d.]+s: 2\b", worker_log), worker_log
    assert "recovery.task_resent" in worker_log
    # The new worker's metrics say so: one task of a dead worker sent again, and the six
    # images it embedded (the fifth batch, then the rest of the fourth).
    assert _worker_metric(port, "pixseek_task_leases_recovered_total", action="resent") == 1
    assert _worker_metric(port, "pixseek_ingest_images_total", outcome="embedded") == 6
    batches = {"task": "pixseek.ingest.process_batch", "state": "SUCCESS"}
    assert _worker_metric(port, "pixseek_tasks_total", **batches) == 2
