"""The catalog and the ingest steps behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pixseek.core.db import ensure_schema, session_scope
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image, ImageVector
from pixseek.index.catalog.jobs import JobStatus, job_progress, job_summary
from pixseek.ingest.finalizing import finalize_job
from pixseek.ingest.pending import pending_count
from pixseek.ingest.planning import create_job, plan_job
from pixseek.ingest.processing import process_images
from pixseek.ingest.run import run_ingest
from pixseek.media.sources import open_source
from tests.support.cluster import assert_indexed_once, snapshot
from tests.support.images import write_image, write_images


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def backend(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Settings]:
    """The test's settings on SQLite, or the same with a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield settings
        return
    url: str = request.getfixturevalue("pg_url")
    pg = settings.model_copy(update={"database_url": url})
    ensure_schema(pg)
    yield pg


def test_ingest_then_incremental_rerun(backend: Settings, bucket: Path) -> None:
    run_ingest(backend, str(bucket))
    write_image(bucket / "img001.png", 100)  # changed
    (bucket / "img002.png").unlink()  # deleted
    write_images(bucket, 1, start=20)  # new
    job_id = run_ingest(backend, str(bucket))
    with session_scope(backend) as session:
        summary = job_summary(session, job_id)
    assert (summary["total"], summary["indexed"], summary["unchanged"], summary["deleted"]) == (6, 2, 4, 1)
    snap = snapshot(backend, str(bucket.resolve()))
    assert snap.rows["img002.png"][0] == "deleted"
    assert_indexed_once(snap)
    assert len(snap.index_ids) == 6


@pytest.mark.services
def test_batch_run_twice_at_once_embeds_each_image_once(
    settings: Settings, pg_url: str, tmp_path: Path
) -> None:
    """A redelivered batch running beside its first copy (a visibility timeout) writes nothing twice.

    The rows each chunk commits are locked and re-checked, so one copy waits for the other.
    """
    pg = settings.model_copy(update={"database_url": pg_url})
    ensure_schema(pg)
    folder = tmp_path / "bucket"
    write_images(folder, 12)
    source = open_source(str(folder), pg)
    job_id = create_job(pg, source.bucket)
    plan = plan_job(pg, job_id, source)
    errors: list[BaseException] = []
    done: list[int] = []

    def run() -> None:
        try:
            done.append(process_images(pg, job_id, plan.bucket, plan.work))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert pending_count(pg, job_id) == 0
    assert finalize_job(pg, job_id) is not None
    assert finalize_job(pg, job_id) is None  # a second finalize changes nothing
    with session_scope(pg) as session:
        assert job_progress(session, job_id).status == JobStatus.DONE
        assert session.scalar(select(func.count()).select_from(ImageVector)) == 12
        assert session.scalar(select(func.count()).select_from(Image)) == 12
    assert_indexed_once(snapshot(pg, plan.bucket))
