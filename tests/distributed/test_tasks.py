"""The Celery tasks' own decisions, run in this process against the real Redis."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pixseek.core.db import session_scope
from pixseek.core.settings import Settings, get_settings
from pixseek.index.catalog.jobs import job_progress, job_summary
from pixseek.index.catalog.leases import take_lease
from pixseek.ingest import dispatch, tasks
from pixseek.ingest.pending import pending_count
from pixseek.ingest.planning import create_job, plan_job
from pixseek.media.sources import open_source
from tests.support.images import write_images

pytestmark = pytest.mark.services


@pytest.fixture
def distributed(settings: Settings, broker_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The test's settings with a broker and a queue of its own (the queue is emptied after)."""
    queue = f"pixseek-test-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("PIXSEEK_BROKER_URL", broker_url)
    monkeypatch.setenv("PIXSEEK_QUEUE", queue)
    monkeypatch.setenv("PIXSEEK_TASK_MAX_REDELIVERIES", "2")
    get_settings.cache_clear()
    yield get_settings()
    bindings = (f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    redis.Redis.from_url(broker_url).delete(queue, *bindings)


def _queued(settings: Settings) -> list[str]:
    assert settings.broker_url is not None
    raw = redis.Redis.from_url(settings.broker_url).lrange(settings.queue, 0, -1)
    return [json.loads(message)["headers"]["task"] for message in raw]


def _planned_job(settings: Settings, folder: Path) -> tuple[str, str, list[int]]:
    write_images(folder, 3)
    source = open_source(str(folder), settings)
    job_id = create_job(settings, source.bucket)
    plan = plan_job(settings, job_id, source)
    return job_id, plan.bucket, plan.work


def _redeliver(task_id: str, job_id: str, bucket: str, ids: list[int]) -> int:
    """Run process_batch here as the broker runs a task it hands out again after a worker died."""
    tasks.process_batch.push_request(id=task_id, retries=0, delivery_info={"redelivered": True})
    try:
        return int(tasks.process_batch.run(job_id, bucket, ids))
    finally:
        tasks.process_batch.pop_request()


def _start_in(settings: Settings, holder: str, task_id: str, job_id: str, bucket: str, ids: list[int]) -> int:
    """A worker process named `holder` takes the batch's lease, as it does when the task starts."""
    with session_scope(settings) as session:
        return take_lease(
            session,
            task_id=task_id,
            name=dispatch.BATCH_TASK,
            queue=settings.queue,
            message={"args": [job_id, bucket, ids]},
            holder=holder,
        )


def test_redelivered_last_batch_embeds_and_sends_finalize(distributed: Settings, tmp_path: Path) -> None:
    job_id, bucket, ids = _planned_job(distributed, tmp_path / "bucket")
    assert _redeliver(uuid.uuid4().hex, job_id, bucket, ids) == 3
    assert pending_count(distributed, job_id) == 0
    assert _queued(distributed) == ["pixseek.ingest.finalize"]


def test_batch_that_keeps_killing_its_worker_is_given_up(distributed: Settings, tmp_path: Path) -> None:
    job_id, bucket, ids = _planned_job(distributed, tmp_path / "bucket")
    task_id = uuid.uuid4().hex
    assert _start_in(distributed, "w1:101", task_id, job_id, bucket, ids) == 0
    # Its process dies; the broker hands the task to another, which finds the lease held.
    assert _start_in(distributed, "w2:202", task_id, job_id, bucket, ids) == 1  # the first death
    assert _start_in(distributed, "w3:303", task_id, job_id, bucket, ids) == 2  # the second
    assert _redeliver(task_id, job_id, bucket, ids) == 0  # PIXSEEK_TASK_MAX_REDELIVERIES=2: given up
    with session_scope(distributed) as session:
        summary = job_summary(session, job_id)
    assert sorted(f["key"] for f in summary["failed"]) == ["img000.png", "img001.png", "img002.png"]
    assert all("worker died 2 times" in f["error"] for f in summary["failed"])
    # The job is not left hanging: its writer step is on the way.
    assert pending_count(distributed, job_id) == 0
    assert _queued(distributed) == ["pixseek.ingest.finalize"]


def test_plan_task_plans_once_and_resends_pending_images_when_redelivered(
    distributed: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "bucket"
    write_images(folder, 5)
    job_id = dispatch.submit_job(distributed, str(folder))  # what POST /v1/jobs does
    assert _queued(distributed) == ["pixseek.ingest.plan"]

    # PIXSEEK_TASK_BATCH_SIZE is 256 here: one batch for the five images.
    assert tasks.plan.run(job_id, str(folder)) == 1
    with session_scope(distributed) as session:
        first = job_progress(session, job_id)
    assert (first.status, first.total, first.planned) == ("running", 5, 5)

    # The same plan message again (its worker died after committing the plan): the job is
    # not planned twice, its still-pending images are sent again instead.
    assert tasks.plan.run(job_id, str(folder)) == 1
    with session_scope(distributed) as session:
        again = job_progress(session, job_id)
    assert (again.planned, again.unchanged) == (5, 0)
    batches = _queued(distributed).count("pixseek.ingest.process_batch")
    assert batches == 2
    assert dispatch.resume_job(distributed, job_id) == 1  # `pixseek jobs --resume`
