"""Scheduled rescans in a cluster: `pixseek beat`'s schedule and the rescan task's service."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from pixseek.cli import main
from pixseek.core.broker import RESCAN_TASK, make_celery
from pixseek.core.db import session_scope
from pixseek.core.settings import RescanSettings, Settings
from pixseek.index.catalog.images import Image, ImageStatus
from pixseek.index.catalog.jobs import Job, JobStatus, record_failure
from pixseek.ingest.dispatch import rescan_bucket
from tests.support.services import service_missing

REDIS_URL = os.environ.get("PIXSEEK_TEST_REDIS", "redis://127.0.0.1:6379") + "/0"


def test_the_beat_schedule_sends_one_rescan_per_bucket_per_interval(settings: Settings) -> None:
    cluster = settings.model_copy(
        update={
            "broker_url": REDIS_URL,
            "rescan": RescanSettings(buckets=["s3://images/", "/srv/photos"], interval_seconds=600),
        }
    )
    schedule = make_celery(cluster).conf.beat_schedule
    assert sorted(schedule) == ["rescan /srv/photos", "rescan s3://images/"]
    entry = schedule["rescan s3://images/"]
    assert (entry["task"], entry["schedule"], entry["args"]) == (RESCAN_TASK, 600.0, ("s3://images/",))
    assert entry["options"] == {"queue": cluster.queue, "expires": 600.0}
    assert make_celery(settings).conf.beat_schedule in ({}, None)  # embedded: no clock

    from pixseek.ingest import tasks

    assert tasks.rescan.name == RESCAN_TASK


def test_beat_refuses_to_start_with_nothing_to_schedule(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pixseek.core.settings import get_settings

    monkeypatch.setenv("PIXSEEK_BROKER_URL", REDIS_URL)
    get_settings.cache_clear()
    result = CliRunner().invoke(main, ["beat"])
    assert result.exit_code == 2
    assert "PIXSEEK_RESCAN__BUCKETS" in result.output


@pytest.fixture
def cluster(settings: Settings) -> Iterator[Settings]:
    """The test's settings with a real Redis broker and a queue of its own (emptied after)."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing(f"Redis not reachable at {REDIS_URL}: {exc}")
    queue = f"pixseek-test-{uuid.uuid4().hex[:8]}"
    yield settings.model_copy(update={"broker_url": REDIS_URL, "queue": queue})
    client.delete(queue)


def _queued(settings: Settings) -> int:
    import redis

    return int(redis.Redis.from_url(REDIS_URL).llen(settings.queue))


def test_a_rescan_starts_an_ingest_and_skips_while_it_is_under_way(cluster: Settings, bucket: Path) -> None:
    job_id = rescan_bucket(cluster, str(bucket))
    assert job_id is not None
    with session_scope(cluster) as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == JobStatus.RUNNING
        pending = session.scalars(select(Image.key).where(Image.status == ImageStatus.PENDING)).all()
    assert len(pending) == 6
    assert _queued(cluster) == 1  # one batch for the workers

    assert rescan_bucket(cluster, str(bucket)) is None  # the same bucket is still being ingested
    assert _queued(cluster) == 1

    record_failure(cluster, job_id, "the test's worker never came")
    again = rescan_bucket(cluster, str(bucket))
    assert again is not None and again != job_id
    assert _queued(cluster) == 2


def test_a_rescan_of_a_missing_bucket_is_logged_not_raised(cluster: Settings, tmp_path: Path) -> None:
    assert rescan_bucket(cluster, str(tmp_path / "gone")) is None
    assert _queued(cluster) == 0
