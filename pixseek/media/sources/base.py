"""What every bucket source provides: a listing of entries and reads of their bytes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass


class SourceError(Exception):
    """A file could not be read from its bucket; the message is the reason shown to users."""


@dataclass(frozen=True)
class Entry:
    """One listed object. `skip` or `refuse` set means it is recorded but never read."""

    key: str
    size: int | None = None
    mtime: float | None = None
    etag: str | None = None
    skip: str | None = None  # quietly skipped (hidden, not a regular file)
    refuse: str | None = None  # refused for safety (a symlink leaving the bucket)


class BucketSource(ABC):
    """A bucket: a named collection of objects addressed by POSIX-style keys."""

    bucket: str

    @abstractmethod
    def list(self) -> Iterator[Entry]:
        """Every entry below the bucket root, in a stable order."""

    @abstractmethod
    def read(self, key: str, max_bytes: int) -> bytes:
        """The bytes of one object; raises SourceError (too large, vanished, refused)."""
