"""Detection as a job: signatures first (ingest), then one transaction of comparison; safe to repeat."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

import pixseek.ingest.signatures as signatures
import pixseek.search.duplicates.jobs as jobs
from pixseek.core.db import session_scope
from pixseek.core.settings import Settings, get_settings
from pixseek.index.catalog.duplicates import ImageHash
from pixseek.index.catalog.jobs import JobProgress, failures_recorded, job_progress
from pixseek.ingest.run import run_ingest
from pixseek.ingest.signatures import backfill_signatures
from pixseek.search.duplicates.jobs import create_detection_job, run_detection_job
from pixseek.search.duplicates.service import DuplicateService, GroupView


def _job(settings: Settings, job_id: str) -> JobProgress:
    with session_scope(settings) as session:
        return job_progress(session, job_id)


def _detect_job(settings: Settings, *, full: bool = False) -> str:
    """What `pixseek duplicates` and the embedded API run: both steps, failures recorded."""
    job_id = create_detection_job(settings)
    with failures_recorded(settings, job_id):
        backfill_signatures(settings, job_id=job_id)
        run_detection_job(settings, job_id, full=full)
    return job_id


def _groups(settings: Settings) -> list[GroupView]:
    with session_scope(settings) as session:
        return DuplicateService(settings).list_groups(session)[1]


def _forget_signatures(settings: Settings) -> None:
    """The catalog as it was before duplicate detection existed: no image has a signature."""
    with session_scope(settings) as session:
        session.execute(delete(ImageHash))


def test_detection_job_is_done_with_its_summary(settings: Settings, dup_bucket: Path) -> None:
    run_ingest(settings, str(dup_bucket))
    job = _job(settings, _detect_job(settings))
    assert (job.kind, job.status, job.bucket, job.error) == ("duplicates", "done", "", None)
    assert job.finished_at is not None
    assert job.detection is not None
    assert job.detection == {
        "images": 11,
        "compared": 11,
        "pairs_found": job.detection["pairs_found"],
        "backfilled": 0,
        "groups": {"exact": 1, "near": 1, "contained": 0, "similar": 0},
    }
    assert job.detection["pairs_found"] > 0


def test_a_done_job_run_again_returns_its_summary_without_comparing(
    settings: Settings, dup_bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_ingest(settings, str(dup_bucket))
    job_id = _detect_job(settings)
    recorded = _job(settings, job_id).detection

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("a done job was compared again")

    monkeypatch.setattr(jobs, "detect", must_not_run)
    # A task delivered twice (acks_late): both steps see the job done and do nothing.
    assert backfill_signatures(settings, job_id=job_id) == 0
    assert run_detection_job(settings, job_id).as_dict() == recorded
    assert _job(settings, job_id).detection == recorded


def test_detection_run_twice_gives_the_same_groups(settings: Settings, dup_bucket: Path) -> None:
    run_ingest(settings, str(dup_bucket))
    _detect_job(settings)
    first = _groups(settings)
    _detect_job(settings)
    again = _groups(settings)
    _detect_job(settings, full=True)
    full = _groups(settings)

    def content(groups: list[GroupView]) -> list[object]:
        # Open groups are rebuilt on every run, so only their ids may change.
        return [(g.kind, g.keep, g.images) for g in groups]

    assert len(first) == 2
    assert content(again) == content(first)
    assert content(full) == content(first)


def test_images_without_a_signature_get_one_before_detection(settings: Settings, dup_bucket: Path) -> None:
    run_ingest(settings, str(dup_bucket))
    _forget_signatures(settings)
    job = _job(settings, _detect_job(settings))
    assert job.detection is not None
    assert (job.detection["backfilled"], job.detection["compared"]) == (11, 11)
    assert job.detection["groups"] == {"exact": 1, "near": 1, "contained": 0, "similar": 0}
    assert sorted(g.kind for g in _groups(settings)) == ["exact", "near"]


def test_backfill_commits_in_chunks_and_a_rerun_does_only_the_rest(
    settings: Settings, dup_bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_ingest(settings, str(dup_bucket))
    _forget_signatures(settings)
    monkeypatch.setattr(signatures, "CHUNK", 4)
    compute = signatures._compute
    calls = 0

    def dies_on_the_sixth_file(*args):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 6:
            raise RuntimeError("worker lost")
        return compute(*args)

    monkeypatch.setattr(signatures, "_compute", dies_on_the_sixth_file)
    job_id = create_detection_job(settings)
    with pytest.raises(RuntimeError, match="worker lost"):
        backfill_signatures(settings, job_id=job_id)
    with session_scope(settings) as session:
        assert session.scalar(select(func.count()).select_from(ImageHash)) == 4  # the first chunk
    assert _job(settings, job_id).summary == {"backfilled": 4}
    assert backfill_signatures(settings, job_id=job_id) == 7  # the run delivered again
    assert run_detection_job(settings, job_id).backfilled == 11


def test_the_tasks_run_backfill_then_detection_through_the_link(settings: Settings, dup_bucket: Path) -> None:
    # What a worker does with what the API sends (tasks run eagerly here, with no broker).
    from pixseek.ingest.tasks import backfill_signatures as backfill_task
    from pixseek.search.duplicates.tasks import detect as detect_task

    assert backfill_task.app.conf.task_always_eager
    run_ingest(settings, str(dup_bucket))
    _forget_signatures(settings)
    job_id = create_detection_job(settings)
    backfill_task.apply(args=(job_id,), link=detect_task.si(job_id, False))
    job = _job(settings, job_id)
    assert job.status == "done" and job.detection is not None
    assert (job.detection["backfilled"], job.detection["compared"]) == (11, 11)


def test_a_failing_detection_task_records_its_error(
    settings: Settings, dup_bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pixseek.search.duplicates.tasks import detect as detect_task

    monkeypatch.setenv("PIXSEEK_TASK_MAX_RETRIES", "0")
    get_settings.cache_clear()
    run_ingest(settings, str(dup_bucket))

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("comparison blew up")

    monkeypatch.setattr(jobs, "detect", broken)
    job_id = create_detection_job(settings)
    with pytest.raises(RuntimeError, match="comparison blew up"):
        detect_task.apply(args=(job_id, False))
    job = _job(settings, job_id)
    assert (job.status, job.error, job.detection) == ("failed", "RuntimeError: comparison blew up", None)


def test_the_worker_loads_the_ingest_and_detection_tasks_by_name() -> None:
    from pixseek.ingest.celery_app import celery_app

    celery_app.loader.import_default_modules()  # what a worker does at start
    assert {
        "pixseek.ingest.plan",
        "pixseek.ingest.process_batch",
        "pixseek.ingest.finalize",
        "pixseek.ingest.backfill_signatures",
        "pixseek.duplicates.detect",
    } <= set(celery_app.tasks)
