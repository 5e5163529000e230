"""Numbered generations of files in one folder, published atomically.

Layout:

    current.json         {"generation": N}  (replaced atomically: readers never see a partial write)
    gen-0000000N/        the generation's files, written in a temp folder, fsynced, then renamed

A reader loads `current.json`, then the generation it names. Old generations stay on disk
until `KEEP_GENERATIONS` newer ones exist, so a reader that has just read `current.json`
still finds its files. The CLS index and the patch index both live in such folders.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

CURRENT_FILE = "current.json"
KEEP_GENERATIONS = 3
# Temp folders older than this were left by a writer that died mid-write.
STALE_TEMP_SECONDS = 3600


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class GenerationFolder:
    """Reads the current generation number of a folder and publishes the next one."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def current_generation(self) -> int | None:
        try:
            data = json.loads((self.root / CURRENT_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return int(data["generation"])

    def generation_dir(self, generation: int) -> Path:
        return self.root / f"gen-{generation:08d}"

    def publish_generation(self, write: Callable[[Path, int], Iterable[str]]) -> int:
        """Make the next generation current: `write(folder, generation)` fills a temp folder
        and returns the names it wrote. The caller holds the writer lock."""
        self.root.mkdir(parents=True, exist_ok=True)
        generation = (self.current_generation() or 0) + 1
        final = self.generation_dir(generation)
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=f".gen-{generation:08d}."))
        try:
            for name in write(tmp, generation):
                with open(tmp / name, "rb") as fh:
                    os.fsync(fh.fileno())
            if final.exists():  # left by a writer that died after the rename, before current.json
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._write_current(generation)
        self._prune(generation)
        return generation

    def _write_current(self, generation: int) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".current.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"generation": generation}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.root / CURRENT_FILE)
        _fsync_dir(self.root)

    def _prune(self, current: int) -> None:
        for folder in self.root.glob("gen-*"):
            try:
                gen = int(folder.name[4:])
            except ValueError:
                continue
            if gen <= current - KEEP_GENERATIONS:
                shutil.rmtree(folder, ignore_errors=True)
        for folder in self.root.glob(".gen-*"):
            if time.time() - folder.stat().st_mtime > STALE_TEMP_SECONDS:
                shutil.rmtree(folder, ignore_errors=True)


class GenerationHolder(Generic[T]):
    """What a long-running reader serves from a generation folder, swapped when a new
    generation appears.

    Readers take a reference with `get()` and search it; a swap replaces the reference, so a
    search that started on the old generation finishes on it. `current.json` is read at most
    once per `check_interval` seconds.
    """

    def __init__(
        self,
        folder: GenerationFolder,
        load: Callable[[int], T | None],
        generation_of: Callable[[T], int],
        *,
        check_interval: float = 0.5,
        event: str = "index",
    ) -> None:
        self.folder = folder
        self.check_interval = check_interval
        self._load = load
        self._generation_of = generation_of
        self._event = event
        self._loaded: T | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

    @property
    def loaded(self) -> T | None:
        """What is loaded now, without checking for or loading a newer generation."""
        return self._loaded

    def recheck(self) -> None:
        """Look for a newer generation on the next `get` (after a publish this process made)."""
        self._checked_at = 0.0

    def get(self) -> T | None:
        if self._loaded is not None and time.monotonic() - self._checked_at < self.check_interval:
            return self._loaded
        with self._lock:
            self._checked_at = time.monotonic()
            generation = self.folder.current_generation()
            if generation is None:
                self._loaded = None
            elif self._loaded is None or self._generation_of(self._loaded) != generation:
                try:
                    self._loaded = self._load(generation)
                except FileNotFoundError:
                    # Pruned between reading current.json and opening it: keep what we serve.
                    log.warning("%s.reload_raced generation=%d", self._event, generation)
            return self._loaded
