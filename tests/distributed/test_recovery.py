"""Leases: a live worker sends a dead worker's task again, once, or gives it up (PostgreSQL, Redis)."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import delete, select, update

from pixseek.core.db import dispose_engines, migrate, session_scope, utcnow
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image, ImageStatus
from pixseek.index.catalog.jobs import Job, job_progress, job_summary
from pixseek.index.catalog.leases import TaskLease, database_now, take_lease
from pixseek.ingest import dispatch, recovery
from pixseek.ingest.planning import create_job, plan_job
from pixseek.ingest.reconcile import reconcile
from pixseek.media.sources import open_source
from tests.support.images import write_images
from tests.support.settings import make_settings

pytestmark = pytest.mark.services

LEASE_SECONDS = 30


@pytest.fixture
def pg(tmp_path: Path, pg_url: str, broker_url: str) -> Iterator[Settings]:
    """PostgreSQL for the catalog and leases, Redis with a queue of this test's own."""
    queue = f"pixseek-test-{uuid.uuid4().hex[:10]}"
    settings = make_settings(tmp_path / "data").model_copy(
        update={
            "database_url": pg_url,
            "broker_url": broker_url,
            "queue": queue,
            "enrich_queue": f"{queue}-enrich",
            "task_lease_seconds": LEASE_SECONDS,
            "task_max_redeliveries": 3,
        }
    )
    migrate(settings)
    yield settings
    dispose_engines()
    bindings = (f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    redis.Redis.from_url(broker_url).delete(queue, f"{queue}-enrich", *bindings)


def _queued(settings: Settings) -> list[dict[str, Any]]:
    assert settings.broker_url is not None
    raw = redis.Redis.from_url(settings.broker_url).lrange(settings.queue, 0, -1)
    return [json.loads(message) for message in raw]


def _planned(settings: Settings, folder: Path) -> tuple[str, str, list[int]]:
    write_images(folder, 3)
    source = open_source(str(folder), settings)
    job_id = create_job(settings, source.bucket)
    plan = plan_job(settings, job_id, source)
    return job_id, plan.bucket, plan.work


def _held(settings: Settings, task_id: str, name: str, args: list[Any], holder: str, **extra: Any) -> None:
    with session_scope(settings) as session:
        take_lease(
            session,
            task_id=task_id,
            name=name,
            queue=settings.queue,
            message={"args": args, "kwargs": {}, **extra},
            holder=holder,
        )


def _age(settings: Settings, task_id: str, seconds: float) -> None:
    """The lease was last renewed `seconds` ago (its process stopped renewing it then)."""
    with session_scope(settings) as session:
        then = database_now(session) - timedelta(seconds=seconds)
        session.execute(update(TaskLease).where(TaskLease.task_id == task_id).values(heartbeat_at=then))


def _lease(settings: Settings, task_id: str) -> TaskLease | None:
    with session_scope(settings) as session:
        return session.scalar(select(TaskLease).where(TaskLease.task_id == task_id))


def test_lapsed_batch_is_sent_again_once_under_its_id(pg: Settings, tmp_path: Path) -> None:
    job_id, bucket, ids = _planned(pg, tmp_path / "bucket")
    task_id = uuid.uuid4().hex
    link = [{"task": "pixseek.example.next", "args": [job_id], "kwargs": {}, "options": {}}]
    _held(pg, task_id, dispatch.BATCH_TASK, [job_id, bucket, ids], "w1:101", link=link)
    _age(pg, task_id, LEASE_SECONDS + 5)

    # Four live workers check at the same moment: exactly one sends it.
    results: list[dict[str, int]] = []
    checkers = [threading.Thread(target=lambda: results.append(recovery.check_leases(pg))) for _ in range(4)]
    for checker in checkers:
        checker.start()
    for checker in checkers:
        checker.join()
    assert sorted(r["resent"] for r in results) == [0, 0, 0, 1]

    (message,) = _queued(pg)
    assert message["headers"]["task"] == dispatch.BATCH_TASK
    assert message["headers"]["id"] == task_id
    args, _kwargs, embed = json.loads(base64.b64decode(message["body"]))
    assert args == [job_id, bucket, ids]
    assert [cb["task"] for cb in embed["callbacks"]] == ["pixseek.example.next"]
    lease = _lease(pg, task_id)
    assert lease is not None and lease.holder is None and lease.deaths == 1

    # Sent again and waiting: not sent a second time however long it waits in the queue.
    _age(pg, task_id, LEASE_SECONDS * 10)
    assert recovery.check_leases(pg) == {"resent": 0, "given_up": 0}
    # The worker that starts it takes the lease without counting another death.
    _held(pg, task_id, dispatch.BATCH_TASK, [job_id, bucket, ids], "w2:202")
    lease = _lease(pg, task_id)
    assert lease is not None and (lease.holder, lease.deaths) == ("w2:202", 1)


def test_renewed_lease_is_left_alone(pg: Settings, tmp_path: Path) -> None:
    job_id, bucket, ids = _planned(pg, tmp_path / "bucket")
    task_id = uuid.uuid4().hex
    _held(pg, task_id, dispatch.BATCH_TASK, [job_id, bucket, ids], "w1:101")
    _age(pg, task_id, LEASE_SECONDS + 5)
    recovery.HEARTBEAT.renew(pg, {task_id: "w1:101"})  # its process is alive after all
    assert recovery.check_leases(pg) == {"resent": 0, "given_up": 0}
    assert _queued(pg) == []
    lease = _lease(pg, task_id)
    assert lease is not None and lease.holder == "w1:101"


def test_batch_whose_workers_keep_dying_is_given_up(pg: Settings, tmp_path: Path) -> None:
    job_id, bucket, ids = _planned(pg, tmp_path / "bucket")
    task_id = uuid.uuid4().hex
    # PIXSEEK_TASK_MAX_REDELIVERIES=3: two deaths so far, the third is this lapse.
    for deaths, holder in enumerate(("w1:1", "w2:2", "w3:3")):
        _held(pg, task_id, dispatch.BATCH_TASK, [job_id, bucket, ids], holder)
        assert (lease := _lease(pg, task_id)) is not None and lease.deaths == deaths
    _age(pg, task_id, LEASE_SECONDS + 5)
    assert recovery.check_leases(pg) == {"resent": 0, "given_up": 1}
    assert _lease(pg, task_id) is None
    with session_scope(pg) as session:
        summary = job_summary(session, job_id)
    assert len(summary["failed"]) == 3
    assert all(f["error"] == "worker died 3 times on this file's batch" for f in summary["failed"])
    assert [m["headers"]["task"] for m in _queued(pg)] == [dispatch.FINALIZE_TASK]


def test_other_task_whose_workers_keep_dying_fails_its_job(pg: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "bucket"
    write_images(folder, 2)
    job_id = create_job(pg, str(folder.resolve()))
    task_id = uuid.uuid4().hex
    for holder in ("w1:1", "w2:2", "w3:3"):
        _held(pg, task_id, dispatch.PLAN_TASK, [job_id, str(folder)], holder)
    _age(pg, task_id, LEASE_SECONDS + 5)
    assert recovery.check_leases(pg) == {"resent": 0, "given_up": 1}
    with session_scope(pg) as session:
        progress = job_progress(session, job_id)
    assert progress.status == "failed"
    assert progress.error == f"worker died 3 times running {dispatch.PLAN_TASK}"


def _idle(settings: Settings, job_id: str, seconds: float = 3600) -> None:
    """The job showed no life for `seconds`: created, planned, sent and last stored that long ago."""
    then = utcnow() - timedelta(seconds=seconds)
    with session_scope(settings) as session:
        session.execute(
            update(Job).where(Job.id == job_id).values(created_at=then, started_at=then, dispatched_at=then)
        )
        session.execute(update(Image).where(Image.job_id == job_id).values(updated_at=then))


def _clear_queue(settings: Settings) -> None:
    assert settings.broker_url is not None
    redis.Redis.from_url(settings.broker_url).delete(settings.queue)


def test_reconciler_sends_again_pending_work_nothing_holds_or_carries(pg: Settings, tmp_path: Path) -> None:
    job_id, bucket, ids = _planned(pg, tmp_path / "bucket")
    dispatch.send_batches(pg, job_id, bucket, ids)
    _idle(pg, job_id)
    assert reconcile(pg) == 0  # its batch waits in the queue
    _clear_queue(pg)  # the broker forgot it
    _held(pg, "running", dispatch.BATCH_TASK, [job_id, bucket, ids], "w1:101")
    assert reconcile(pg) == 0  # a worker runs it
    with session_scope(pg) as session:
        session.execute(delete(TaskLease))  # ... and died, with the broker's copy gone
    results: list[int] = []
    checkers = [threading.Thread(target=lambda: results.append(reconcile(pg))) for _ in range(3)]
    for checker in checkers:
        checker.start()
    for checker in checkers:
        checker.join()
    assert sorted(results) == [0, 0, 1]  # one worker wins the job
    (message,) = _queued(pg)
    assert message["headers"]["task"] == dispatch.BATCH_TASK
    assert json.loads(base64.b64decode(message["body"]))[0] == [job_id, bucket, ids]
    assert reconcile(pg) == 0  # just sent: left alone


def test_reconciler_sends_the_publish_that_never_ran(pg: Settings, tmp_path: Path) -> None:
    job_id, _bucket, _ids = _planned(pg, tmp_path / "bucket")
    with session_scope(pg) as session:
        session.execute(update(Image).where(Image.job_id == job_id).values(status=ImageStatus.EMBEDDED))
    _idle(pg, job_id)
    assert reconcile(pg) == 1
    (message,) = _queued(pg)
    assert message["headers"]["task"] == dispatch.FINALIZE_TASK
    assert json.loads(base64.b64decode(message["body"]))[0] == [job_id]


def test_reconciler_sends_again_an_enrich_job_the_broker_forgot(pg: Settings, tmp_path: Path) -> None:
    from pixseek.ingest.enrich import ENRICH_TASK, create_enrich_job, send_enrich

    job_id = create_enrich_job(pg)
    send_enrich(pg, job_id)
    _idle(pg, job_id)
    client = redis.Redis.from_url(pg.broker_url or "")
    assert reconcile(pg) == 0  # waiting in the enrich queue
    client.delete(pg.enrich_queue)  # the broker forgot it
    assert reconcile(pg) == 1
    (raw,) = client.lrange(pg.enrich_queue, 0, -1)
    message = json.loads(raw)
    assert message["headers"]["task"] == ENRICH_TASK
    assert json.loads(base64.b64decode(message["body"]))[0] == [job_id]
