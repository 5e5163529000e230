"""Keep a bucket in sync: ingest again after its files change (`pixseek ingest --watch`).

Each run is an ordinary incremental ingest (the planner compares every listed file with its
catalog row), so what a run does never depends on which events arrived: events only decide
*when* to run. Two triggers:

- **events** (local folders, through watchdog's native observer: inotify, FSEvents, ...):
  a burst of them (a camera import, a sync client) gives one run, once the folder has been
  quiet for `debounce_seconds`; events that arrive during a run give one more run after it.
- **rescans** every `rescan_seconds` whatever happened: the safety net for what events miss
  (network mounts, an overflowed inotify queue, an observer that could not start) and the
  only trigger for S3 buckets.

A run that fails is recorded on its job and logged; the watcher goes on and the next run
picks up what is left (the planner takes over the failed job's pending files).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

log = logging.getLogger(__name__)

# Events that can change what a listing shows. Opening and reading a file (the ingest's own
# reads among them) and a directory's own mtime changing are not news.
_CHANGES = frozenset({"created", "modified", "deleted", "moved", "closed"})


@dataclass
class Schedule:
    """When the next run is due: pure bookkeeping over a clock, so it can be tested without one."""

    debounce: float
    rescan: float
    last_run: float
    last_event: float | None = None

    def note_event(self, now: float) -> None:
        self.last_event = now

    def due(self, now: float) -> str | None:
        """Why a run is due now ("events" or "rescan"), or None."""
        if self.last_event is not None and now - self.last_event >= self.debounce:
            return "events"
        if now - self.last_run >= self.rescan:
            return "rescan"
        return None

    def wait(self, now: float) -> float:
        """Seconds until a run could next be due, if nothing else happens."""
        left = self.last_run + self.rescan - now
        if self.last_event is not None:
            left = min(left, self.last_event + self.debounce - now)
        return max(0.0, left)

    def started(self, now: float) -> None:
        """A run starts: it sees every change made before now."""
        self.last_run = now
        self.last_event = None


class _Changes(FileSystemEventHandler):
    """Feeds the schedule from the observer's thread, ignoring pixseek's own files."""

    def __init__(self, on_change: Callable[[], None], ignore: list[Path]) -> None:
        self._on_change = on_change
        self._ignore = ignore

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in _CHANGES or (event.is_directory and event.event_type == "modified"):
            return
        paths = [event.src_path, getattr(event, "dest_path", "")]
        if all(not p or self._ignored(Path(str(p))) for p in paths):
            return
        self._on_change()

    def _ignored(self, path: Path) -> bool:
        return any(path.is_relative_to(folder) for folder in self._ignore)


class Watcher:
    """Run `ingest` at start, after changes settle and on every rescan, until `stop()`.

    Args:
        ingest: one incremental ingest of the bucket; returns its job id.
        folder: the local folder to observe, or None for rescans only (S3, events turned off).
        debounce_seconds: quiet time after the last event before a run.
        rescan_seconds: the longest time between two runs.
        ignore: folders whose events are pixseek's own (its data dir, when inside the bucket).
        on_run: called after each run with its job id (None when it failed) and its reason.
        clock: seconds, monotonic; tests may pass their own.

    Example:
        watcher = Watcher(lambda: run_ingest(settings, "/photos"), folder=Path("/photos"),
                          debounce_seconds=2, rescan_seconds=3600)
        watcher.run()  # until watcher.stop() from a signal handler or another thread
    """

    def __init__(
        self,
        ingest: Callable[[], str],
        *,
        folder: Path | None,
        debounce_seconds: float,
        rescan_seconds: float,
        ignore: list[Path] | None = None,
        on_run: Callable[[str | None, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ingest = ingest
        self._folder = folder
        self._ignore = [p.resolve() for p in ignore or []]
        self._on_run = on_run
        self._clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._schedule = Schedule(debounce_seconds, rescan_seconds, last_run=clock())
        self.runs = 0
        self.observing = False

    def stop(self) -> None:
        """Ask the watcher to return: at once when idle, after the current run otherwise."""
        self._stopping.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def _note_change(self) -> None:
        with self._lock:
            self._schedule.note_event(self._clock())
        self._wake.set()

    def _start_observer(self) -> BaseObserver | None:
        if self._folder is None:
            return None
        observer = Observer()
        try:
            observer.schedule(_Changes(self._note_change, self._ignore), str(self._folder), recursive=True)
            observer.start()
        except OSError as exc:  # e.g. the inotify watch limit; rescans still keep the index right
            log.warning("watch.events_unavailable folder=%s reason=%s: rescans only", self._folder, exc)
            return None
        self.observing = True
        log.info("watch.observing folder=%s", self._folder)
        return observer

    def _run_once(self, reason: str) -> None:
        with self._lock:
            self._schedule.started(self._clock())
        job_id: str | None = None
        try:
            job_id = self._ingest()
        except Exception:
            # Recorded on the job; the next run plans the bucket again and takes over.
            log.exception("watch.run_failed reason=%s", reason)
        self.runs += 1
        if self._on_run is not None:
            self._on_run(job_id, reason)

    def run(self) -> None:
        """Ingest now, then whenever a run is due, until `stop()`; the observer is stopped on return."""
        observer = self._start_observer()
        try:
            self._run_once("start")
            while not self._stopping.is_set():
                with self._lock:
                    now = self._clock()
                    reason = self._schedule.due(now)
                    wait = self._schedule.wait(now)
                if reason is not None:
                    self._run_once(reason)
                    continue
                self._wake.wait(timeout=wait)
                self._wake.clear()
        finally:
            if observer is not None:
                observer.stop()
                observer.join()
            self.observing = False
