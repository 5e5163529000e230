"""Searchable first: the ingest pass embeds centre crops and publishes; the enrich job does the rest."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.index.catalog.duplicates import ImageHash
from pixseek.index.catalog.jobs import JobKind, JobStatus, get_job, list_jobs
from pixseek.index.catalog.thumbnails import Thumbnail
from pixseek.index.vectors.patch_sync import patch_index_store
from pixseek.ingest import enrich
from pixseek.ingest.enrich import create_enrich_job, run_enrich_job, unenriched_count
from pixseek.ingest.finalizing import finalize_job
from pixseek.ingest.planning import create_job, plan_job
from pixseek.ingest.processing import process_images
from pixseek.ingest.run import run_ingest
from pixseek.media.sources import open_source
from tests.support.images import write_image, write_images
from tests.support.ingested import bump_mtime, catalog, faiss_ids, patches


def _ingest_pass(settings: Settings, folder: Path) -> str:
    """Plan, process and publish, as `run_ingest` does, without the jobs that follow it."""
    source = open_source(str(folder), settings)
    job_id = create_job(settings, source.bucket)
    plan = plan_job(settings, job_id, source)
    process_images(settings, job_id, source.bucket, plan.work)
    finalize_job(settings, job_id)
    return job_id


def _wide(tmp_path: Path, n: int = 4) -> Path:
    # 3:1 pictures: their whole-picture grid has more cells than the centre crop's.
    folder = tmp_path / "wide"
    write_images(folder, n, size=(192, 64))
    return folder


def _counts(settings: Settings) -> tuple[int, int]:
    with session_scope(settings) as session:
        hashes = session.scalar(select(func.count()).select_from(ImageHash)) or 0
        thumbs = session.scalar(select(func.count()).select_from(Thumbnail)) or 0
    return int(hashes), int(thumbs)


def _index_cells(settings: Settings) -> dict[int, int]:
    loaded = patch_index_store(settings).load()
    assert loaded is not None
    return {int(i): int(c) for i, c in zip(loaded.images, loaded.cells, strict=True)}


def test_the_ingest_pass_is_searchable_and_leaves_the_rest_to_the_enrich_job(
    settings: Settings, tmp_path: Path
) -> None:
    folder = _wide(tmp_path)
    _ingest_pass(settings, folder)
    rows = catalog(settings)
    ids = {row.id for row in rows.values()}
    assert faiss_ids(settings) == ids  # searchable after one pass
    assert {row.patch_layout for row in rows.values()} == {"centre"}
    assert all(row.enriched_at is None for row in rows.values())
    assert _counts(settings) == (0, 0)  # no signatures, no thumbnails yet
    centre = _index_cells(settings)
    assert unenriched_count(settings) == 4
    loaded = patch_index_store(settings).load()
    assert loaded is not None and loaded.manifest.coverage == {"whole": 0, "centre": 4, "pending": 4}

    job_id = create_enrich_job(settings)
    summary = run_enrich_job(settings, job_id)
    assert summary == {"images": 4, "patches": 4, "unread": 0, "changed": 0}
    rows = catalog(settings)
    assert {row.patch_layout for row in rows.values()} == {"tiles"}
    assert all(row.enriched_at is not None for row in rows.values())
    assert _counts(settings) == (4, 4)  # a signature and a 256 px thumbnail each
    whole = _index_cells(settings)
    # The patch index holds the new, larger grids; the CLS index is untouched.
    for image_id, row in ((row.id, row) for row in rows.values()):
        assert whole[image_id] == row.grid_h * row.grid_w > centre[image_id]
        grid = patches(settings).get(image_id)
        assert grid is not None and grid.shape[:2] == (row.grid_h, row.grid_w)
    loaded = patch_index_store(settings).load()
    assert loaded is not None and loaded.manifest.coverage == {"whole": 4, "centre": 0, "pending": 0}
    with session_scope(settings) as session:
        job = get_job(session, job_id)
        assert (job.kind, job.status, job.total) == (JobKind.ENRICH, JobStatus.DONE, 4)


def test_run_ingest_follows_with_one_enrich_job_and_none_when_nothing_waits(
    settings: Settings, tmp_path: Path
) -> None:
    folder = _wide(tmp_path, 2)
    run_ingest(settings, str(folder))
    run_ingest(settings, str(folder))  # unchanged: nothing to enrich
    with session_scope(settings) as session:
        kinds = [(job.kind, job.status) for job in reversed(list_jobs(session))]
    assert kinds == [("ingest", "done"), ("enrich", "done"), ("ingest", "done")]
    assert unenriched_count(settings) == 0


def test_a_publication_that_fails_marks_nothing_and_the_next_run_finishes(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ingest_pass(settings, _wide(tmp_path, 3))
    job_id = create_enrich_job(settings)

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(enrich, "publish_patches", crash)
    with pytest.raises(OSError):
        run_enrich_job(settings, job_id)
    # Patch files may be written, but nothing is marked done before the index holds them.
    assert unenriched_count(settings) == 3
    monkeypatch.undo()
    summary = run_enrich_job(settings, job_id)
    assert summary is not None and summary["images"] == 3 and unenriched_count(settings) == 0
    rows = catalog(settings)
    cells = _index_cells(settings)
    assert all(cells[row.id] == row.grid_h * row.grid_w for row in rows.values())


def test_a_file_changed_since_the_ingest_pass_is_left_for_the_next_ingest(
    settings: Settings, tmp_path: Path
) -> None:
    folder = _wide(tmp_path, 2)
    _ingest_pass(settings, folder)
    changed = write_image(folder / "img000.png", 7, size=(192, 64))  # other bytes, same name
    bump_mtime(changed)
    summary = run_enrich_job(settings, create_enrich_job(settings))
    assert summary is not None and (summary["images"], summary["changed"]) == (1, 1)
    assert catalog(settings)[changed.name].enriched_at is None
    run_ingest(settings, str(folder))  # re-embeds it, then enriches it
    assert unenriched_count(settings) == 0


def test_in_a_cluster_it_makes_way_for_embedding_work(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = settings.model_copy(update={"batch_size": 2})
    _ingest_pass(small, _wide(tmp_path, 4))
    monkeypatch.setattr(enrich, "ingest_waiting", lambda settings: True)
    job_id = create_enrich_job(small)
    assert run_enrich_job(small, job_id, yield_to_ingest=True) is None  # one batch, then made way
    assert unenriched_count(small) == 2  # what it did is published and kept
    with session_scope(small) as session:
        assert get_job(session, job_id).status == JobStatus.RUNNING
    monkeypatch.setattr(enrich, "ingest_waiting", lambda settings: False)
    summary = run_enrich_job(small, job_id, yield_to_ingest=True)  # sent again: it goes on
    assert summary is not None and summary["images"] == 4 and unenriched_count(small) == 0


def test_in_one_pass_everything_is_made_at_ingest(settings: Settings, tmp_path: Path) -> None:
    one_pass = settings.model_copy(update={"searchable_first": False})
    run_ingest(one_pass, str(_wide(tmp_path, 2)))
    rows = catalog(settings)
    assert {row.patch_layout for row in rows.values()} == {"tiles"}
    assert all(row.enriched_at is not None for row in rows.values())
    assert _counts(settings) == (2, 2)
    with session_scope(settings) as session:
        assert [job.kind for job in list_jobs(session)] == ["ingest"]


def test_a_cancelled_enrich_job_stops_and_keeps_what_it_did(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = settings.model_copy(update={"batch_size": 2})
    _ingest_pass(small, _wide(tmp_path, 4))
    job_id = create_enrich_job(small)
    cancelled_after_first = iter([True])  # cancelled while the first batch was embedded
    monkeypatch.setattr(enrich, "_cancelled", lambda settings, job_id: next(cancelled_after_first, True))
    summary = run_enrich_job(small, job_id)
    assert summary is not None and summary["images"] == 2  # the first batch, published and kept
    assert unenriched_count(small) == 2
