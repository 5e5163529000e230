"""The overlapped ingest loop (decode threads, model, writer thread) loses nothing and
surfaces a failed write instead of swallowing it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.index.catalog.jobs import job_summary
from pixseek.ingest import processing
from pixseek.ingest.run import run_ingest
from tests.support.images import write_images


def test_every_batch_is_stored_and_reported(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    write_images(folder, 21)  # batch size 8: two full batches and a partial one
    progress: list[int] = []
    job_id = run_ingest(settings, str(folder), on_progress=progress.append)
    assert progress == [8, 8, 5]
    with session_scope(settings) as session:
        summary = job_summary(session, job_id)
    assert summary["indexed"] == 21


def test_a_failed_write_stops_the_job_with_its_error(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "many"
    write_images(folder, 20)
    original = processing._store_chunk
    calls = []

    def failing(*args: object, **kwargs: object) -> int:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(processing, "_store_chunk", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        run_ingest(settings, str(folder))
