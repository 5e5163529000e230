"""`pixseek ingest --watch`: new, changed and deleted files reach the index by themselves."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from watchdog.events import (
    DirModifiedEvent,
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
)

from pixseek.core.settings import Settings
from pixseek.index.catalog.images import ImageStatus
from pixseek.ingest.run import run_ingest
from pixseek.ingest.watch import Schedule, Watcher, _Changes
from tests.support.images import write_image
from tests.support.ingested import bump_mtime, catalog, faiss_ids

# How long a test waits for the watcher before it gives up (a bound, never a measurement).
PATIENCE = 60.0


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"the watcher never got to: {what}")
        time.sleep(0.05)


@dataclass
class Watching:
    watcher: Watcher
    mode: str  # "events": observed, rescans an hour apart; "rescan": no events at all
    reasons: list[str]


@pytest.fixture
def watching(settings: Settings, bucket: Path, request: pytest.FixtureRequest) -> Iterator[Watching]:
    """A watcher of `bucket` running on a thread: on events (debounced) or on rescans alone."""
    events = request.param == "events"
    reasons: list[str] = []
    watcher = Watcher(
        lambda: run_ingest(settings, str(bucket)),
        folder=bucket if events else None,
        debounce_seconds=0.2,
        rescan_seconds=3600.0 if events else 0.3,
        ignore=[settings.data_dir],
        on_run=lambda job_id, reason: reasons.append(reason),
    )
    thread = threading.Thread(target=watcher.run, name="watcher", daemon=True)
    thread.start()
    try:
        yield Watching(watcher, request.param, reasons)
    finally:
        watcher.stop()
        thread.join(timeout=PATIENCE)
    assert not thread.is_alive(), "stop() did not end the watcher"
    assert not watcher.observing


def _status(settings: Settings, key: str) -> str | None:
    row = catalog(settings).get(key)
    return row.status if row is not None else None


@pytest.mark.parametrize("watching", ["events", "rescan"], indirect=True)
def test_watch_picks_up_a_new_a_changed_and_a_deleted_file(
    watching: Watching, settings: Settings, bucket: Path
) -> None:
    wait_for(lambda: watching.watcher.runs >= 1, "the first ingest")
    assert watching.watcher.observing == (watching.mode == "events")
    before = catalog(settings)
    assert {row.status for row in before.values()} == {ImageStatus.INDEXED}
    assert len(before) == 6

    write_image(bucket / "new/img100.png", 100)
    wait_for(lambda: _status(settings, "new/img100.png") == ImageStatus.INDEXED, "index the new file")

    changed = bucket / "img000.png"
    write_image(changed, 101)
    bump_mtime(changed)
    old_sha = before["img000.png"].sha256

    def reembedded() -> bool:
        row = catalog(settings)["img000.png"]
        return row.sha256 != old_sha and row.status == ImageStatus.INDEXED

    wait_for(reembedded, "re-embed the changed file")

    (bucket / "img001.png").unlink()
    wait_for(lambda: _status(settings, "img001.png") == ImageStatus.DELETED, "drop the deleted file")

    rows = catalog(settings)
    assert rows["img000.png"].id == before["img000.png"].id  # a changed file keeps its id
    indexed = {row.id for row in rows.values() if row.status == ImageStatus.INDEXED}
    wait_for(lambda: faiss_ids(settings) == indexed, "publish the index")
    assert watching.reasons[0] == "start"
    assert set(watching.reasons[1:]) == {watching.mode}


def test_a_burst_of_events_gives_one_run_once_the_folder_is_quiet() -> None:
    schedule = Schedule(debounce=2.0, rescan=100.0, last_run=0.0)
    assert schedule.due(1.0) is None
    for t in (10.0, 10.5, 11.0, 11.9):  # a burst, each event inside the quiet time of the last
        schedule.note_event(t)
        assert schedule.due(t + 1.9) is None
    assert schedule.wait(12.0) == pytest.approx(1.9)
    assert schedule.due(13.9) == "events"
    schedule.started(13.9)
    assert schedule.due(15.0) is None  # the burst gave one run
    schedule.note_event(16.0)  # a change during (or after) the run gives one more
    assert schedule.due(18.0) == "events"


def test_rescans_come_whatever_the_events() -> None:
    schedule = Schedule(debounce=2.0, rescan=60.0, last_run=0.0)
    assert schedule.wait(0.0) == 60.0
    assert schedule.due(59.9) is None
    assert schedule.due(60.0) == "rescan"
    schedule.started(60.0)
    assert schedule.due(61.0) is None


def test_only_changes_outside_pixseeks_own_files_count(tmp_path: Path) -> None:
    seen: list[int] = []
    data = tmp_path / "photos/.pixseek"
    handler = _Changes(lambda: seen.append(1), ignore=[data])
    photo = str(tmp_path / "photos/a.jpg")
    for quiet in (
        FileOpenedEvent(photo),  # the ingest's own reads
        FileClosedNoWriteEvent(photo),
        DirModifiedEvent(str(tmp_path / "photos")),
        FileModifiedEvent(str(data / "pixseek.db")),  # the data dir inside the watched folder
        FileCreatedEvent(str(data / "index/gen-2/cls.faiss")),
    ):
        handler.dispatch(quiet)
    assert seen == []
    for change in (
        FileCreatedEvent(photo),
        FileModifiedEvent(photo),
        FileClosedEvent(photo),
        FileMovedEvent(str(data / "tmp.jpg"), photo),  # moved out of an ignored folder: news
    ):
        handler.dispatch(change)
    assert len(seen) == 4


# `pixseek ingest ARGS` in a process of its own that exits 99 if the command left a SIGTERM
# handler behind (the signal is sent to this child, never to the test's own process, which
# shares its worker with other tests).
WATCH_CHILD = """
import signal, sys
from click.testing import CliRunner
from pixseek.cli import main
before = signal.getsignal(signal.SIGTERM)
result = CliRunner().invoke(main, sys.argv[1:], catch_exceptions=False)
sys.stdout.write(result.stdout)
sys.stdout.flush()
sys.exit(result.exit_code if signal.getsignal(signal.SIGTERM) == before else 99)
"""


def test_sigterm_stops_pixseek_ingest_watch_cleanly(settings: Settings, bucket: Path) -> None:
    # The settings fixture put the test's data dir and model in the environment the child inherits.
    child = subprocess.Popen(
        [sys.executable, "-c", WATCH_CHILD, "ingest", str(bucket), "--watch", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: len(catalog(settings)) == 6 and bool(faiss_ids_or_none(settings)), "first run")
        child.send_signal(signal.SIGTERM)
        stdout, stderr = child.communicate(timeout=PATIENCE)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, stderr[-3000:]
    runs = [json.loads(line) for line in stdout.splitlines()]
    assert [(run["reason"], run["status"], run["indexed"]) for run in runs] == [("start", "done", 6)]


def faiss_ids_or_none(settings: Settings) -> set[int]:
    try:
        return faiss_ids(settings)
    except AssertionError:  # nothing published yet
        return set()
