"""Crash safety: a worker killed with SIGKILL mid-job, and a new one started, lose and duplicate nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pixseek.core.db import session_scope
from pixseek.index.catalog import Image, ImageStatus, ImageVector
from pixseek.index.patches import PatchStore
from pixseek.ingest.dispatch import wait_for_job
from tests.distributed.services import Cluster, assert_indexed_once, snapshot, wait_until
from tests.imagegen import write_images

pytestmark = [pytest.mark.services, pytest.mark.slow]

# Batches of 4 images, committed 2 at a time: the gate (img014) opens the second half of the
# fourth batch, so at the kill that batch has half its images committed and is unacknowledged.
GATE_KEY = "img014.png"


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
    with session_scope(cluster.settings) as session:
        pending = session.scalar(
            select(func.count()).select_from(Image).where(Image.status == ImageStatus.PENDING)
        )
    assert pending == 6, "the kill did not land in the middle of the job"
    assert (bucket / GATE_KEY).exists()

    # The broker hands the killed worker's unacknowledged batch to the new worker.
    cluster.wait_ready(cluster.start_worker())
    final = wait_for_job(cluster.settings, job_id, timeout=300)
    assert final.status == "done", cluster.log_tail()
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
    # The redelivered batch finished only the half the killed worker had not committed.
    log = (cluster.logs / "worker1.log").read_text()
    assert re.search(r"process_batch\[[^]]+\] succeeded in [\d.]+s: 2\b", log), log
