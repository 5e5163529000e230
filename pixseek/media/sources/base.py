"""What every bucket source provides: a listing of entries and reads of their bytes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

from pixseek.core.errors import PixseekError


class SourceError(PixseekError):
    """A file could not be read from its bucket; the detail is the reason shown to users.

    Ingest records it against the file and goes on; the routes that serve a cataloged file
    answer `ImageNotFound` instead, naming the image. Rendered as it is, it is a 404:
    nothing readable under that key.
    """

    status_code = 404
    code = "file_unreadable"


class FileTooLarge(SourceError):
    """The file is over the byte limit its reader gave."""

    status_code = 413
    code = "payload_too_large"


class KeyRefused(SourceError):
    """A key that is malformed or leads outside the bucket: refused before anything is read."""

    status_code = 403
    code = "forbidden"


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

    def read_range(self, key: str, start: int, length: int, max_bytes: int) -> tuple[bytes, int]:
        """Up to `length` bytes of one object from `start`, and the object's size (for serving
        videos with HTTP range requests). This default reads the whole object (up to
        `max_bytes`); sources that can seek override it."""
        data = self.read(key, max_bytes)
        return data[start : start + length], len(data)
