"""Ingest metrics: images by outcome and failures by reason move as an ingest commits them."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from pixseek.core.metrics import failure_reason
from pixseek.core.settings import Settings
from pixseek.ingest.pending import fail_pending
from pixseek.ingest.planning import create_job, plan_job
from pixseek.ingest.run import run_ingest
from pixseek.media.sources import open_source
from tests.support.images import write_bad_files, write_images


def _counts() -> dict[str, float]:
    names = {
        **{
            f"images.{o}": ("pixseek_ingest_images_total", {"outcome": o})
            for o in ("embedded", "failed", "skipped")
        },
        **{
            f"failures.{r}": ("pixseek_ingest_failures_total", {"reason": r})
            for r in ("empty", "not_an_image", "corrupt", "too_large", "worker_died", "other")
        },
    }
    return {key: REGISTRY.get_sample_value(name, labels) or 0.0 for key, (name, labels) in names.items()}


def test_ingest_counts_images_by_outcome_and_failures_by_reason(settings: Settings, tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    write_images(bucket, 3)
    write_bad_files(bucket)
    before = _counts()
    run_ingest(settings, str(bucket))
    after = _counts()
    delta = {key: after[key] - before[key] for key in after}
    # The hidden file is skipped when the bucket is listed, before any file is read.
    assert delta == {
        "images.embedded": 3,
        "images.failed": 9,
        "images.skipped": 1,
        "failures.empty": 1,
        "failures.not_an_image": 2,
        "failures.corrupt": 3,  # truncated JPEG, HEIC and AVIF
        "failures.too_large": 3,  # the PNG, HEIC and AVIF bombs
        "failures.worker_died": 0,
        "failures.other": 0,
    }


def test_images_failed_together_count_under_their_reason(settings: Settings, tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    write_images(bucket, 4)
    source = open_source(str(bucket), settings)
    job_id = create_job(settings, source.bucket)
    plan = plan_job(settings, job_id, source)
    before = _counts()
    assert fail_pending(settings, job_id, plan.work, "worker died 5 times on this file's batch") == 4
    assert fail_pending(settings, job_id, plan.work, "worker died 5 times on this file's batch") == 0
    after = _counts()
    assert after["failures.worker_died"] - before["failures.worker_died"] == 4
    assert after["images.failed"] - before["images.failed"] == 4


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("empty file", "empty"),
        ("not an image (unrecognised content)", "not_an_image"),
        ("cannot decode JPEG image: image file is truncated", "corrupt"),
        ("corrupt PNG header: bad chunk", "corrupt"),
        ("decompression bomb refused: 100000x100000 = 10000000000 pixels exceeds the limit", "too_large"),
        ("file too large: over the limit of 10 bytes", "too_large"),
        ("image of 10x9000 pixels is too thin: aspect ratios over 100:1 are refused", "bad_dimensions"),
        ("refused: symlink target is outside the bucket", "refused"),
        ("file vanished before it could be read", "unreadable"),
        ("worker error: OperationalError: server closed the connection", "worker_error"),
        ("something nobody foresaw", "other"),
        (None, "other"),
    ],
)
def test_failure_messages_map_to_few_reasons(message: str | None, reason: str) -> None:
    assert failure_reason(message) == reason
