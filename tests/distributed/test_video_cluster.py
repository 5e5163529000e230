"""A bucket of photos and videos ingested by `pixseek worker` processes, then again incrementally."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cluster import Cluster
from tests.support.images import write_images
from tests.support.videos import catalog_rows, searchable_segments, slideshow

pytestmark = [pytest.mark.services, pytest.mark.slow]


def _ingest(cluster: Cluster, bucket: Path) -> dict[str, object]:
    result = cluster.pixseek("ingest", str(bucket), "--wait", "--json")
    assert result.returncode == 0, result.stderr + cluster.log_tail()
    summary: dict[str, object] = json.loads(result.stdout)
    assert summary["status"] == "done", summary
    return summary


def test_a_mixed_bucket_ingests_incrementally_in_a_cluster(cluster: Cluster, tmp_path: Path) -> None:
    bucket = tmp_path / "mixed"
    write_images(bucket, 3)
    slideshow(bucket / "show.mp4", seed=1)
    slideshow(bucket / "gone.mp4", seed=2, n=2)
    cluster.wait_ready(cluster.start_worker())

    summary = _ingest(cluster, bucket)
    assert (summary["indexed"], summary["videos"], summary["failed"]) == (5, 2, [])
    assert len(searchable_segments(cluster.settings, "show.mp4")) == 3
    video_id = catalog_rows(cluster.settings)["show.mp4"].id

    slideshow(bucket / "show.mp4", seed=3, n=2, hold=2.0)  # changed: cut again, same row
    (bucket / "gone.mp4").unlink()
    summary = _ingest(cluster, bucket)
    assert (summary["unchanged"], summary["deleted"], summary["indexed"]) == (3, 1, 1)
    rows = catalog_rows(cluster.settings)
    assert rows["show.mp4"].id == video_id
    assert len(searchable_segments(cluster.settings, "show.mp4")) == 2
    assert all(row.status == "deleted" for key, row in rows.items() if key.startswith("gone.mp4"))
    found = json.loads(cluster.pixseek("search", "a scene", "--media", "video", "--json").stdout)
    assert [hit["key"] for hit in found["results"]] == ["show.mp4"]
