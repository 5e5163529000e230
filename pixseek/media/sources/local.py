"""A local folder as a bucket: a safe recursive walk that never leaves the root."""

from __future__ import annotations

import builtins
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from pixseek.core.errors import BucketNotFound
from pixseek.media.sources.base import BucketSource, Entry, FileTooLarge, KeyRefused, SourceError

log = logging.getLogger(__name__)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class LocalSource(BucketSource):
    """A folder on disk; keys are POSIX paths relative to its resolved root."""

    def __init__(self, path: str | Path) -> None:
        root = Path(path).expanduser()
        if not root.exists():
            raise BucketNotFound(f"bucket folder does not exist: {root}")
        if not root.is_dir():
            raise BucketNotFound(f"bucket path is not a folder: {root}")
        self.root = os.path.realpath(root)
        self.bucket = self.root

    def list(self) -> Iterator[Entry]:
        # Directories are remembered by (device, inode) when queued, so symlink loops end the
        # walk and a folder is listed under its own name before a symlink reaching it deeper down.
        try:
            root = os.stat(self.root)
        except OSError as exc:
            raise BucketNotFound(f"cannot list bucket folder {self.root}: {exc.strerror or exc}") from exc
        seen_dirs: set[tuple[int, int]] = {(root.st_dev, root.st_ino)}
        stack: list[tuple[str, str]] = [(self.root, "")]
        while stack:
            path, prefix = stack.pop()
            try:
                with os.scandir(path) as it:
                    children = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                if path == self.root:
                    # An unreadable bucket must not look empty: that would delete all of it.
                    raise BucketNotFound(f"cannot list bucket folder {path}: {exc.strerror or exc}") from exc
                log.warning("ingest.list_failed path=%s reason=%s", path, exc)
                continue
            subdirs: list[tuple[str, str]] = []
            for child in children:
                key = f"{prefix}{child.name}"
                entry = self._entry(child, key, seen_dirs, subdirs)
                if entry is not None:
                    yield entry
            # Reverse so the stack pops subfolders in name order.
            stack.extend(reversed(subdirs))

    def _entry(
        self,
        child: os.DirEntry[str],
        key: str,
        seen_dirs: set[tuple[int, int]],
        subdirs: builtins.list[tuple[str, str]],
    ) -> Entry | None:
        try:
            child.name.encode("utf-8")
        except UnicodeEncodeError:
            # A name in another encoding (old archives): no SQL text column can hold the key,
            # so record it, readable and escaped, as skipped; a folder is not walked.
            escaped = key.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            return Entry(escaped, skip="file name is not valid UTF-8")
        if child.name.startswith("."):
            return None if child.is_dir(follow_symlinks=False) else Entry(key, skip="hidden file")
        if child.is_symlink():
            target = os.path.realpath(child.path)
            if not _inside(target, self.root):
                return Entry(key, refuse="refused: symlink target is outside the bucket")
            if not os.path.exists(target):
                return Entry(key, refuse="refused: broken symlink")
        try:
            st = os.stat(child.path)
        except OSError as exc:
            return Entry(key, refuse=f"cannot stat: {exc.strerror or exc}")
        if stat.S_ISDIR(st.st_mode):
            if (st.st_dev, st.st_ino) not in seen_dirs:
                seen_dirs.add((st.st_dev, st.st_ino))
                subdirs.append((child.path, key + "/"))
            return None
        if not stat.S_ISREG(st.st_mode):
            return Entry(key, skip="not a regular file")
        return Entry(key, size=st.st_size, mtime=st.st_mtime)

    def resolve(self, key: str) -> str:
        """The real path of a key, refused if it leaves the root."""
        if not key or key.startswith("/") or "\x00" in key:
            raise KeyRefused(f"invalid key: {key!r}")
        real = os.path.realpath(os.path.join(self.root, *key.split("/")))
        if not _inside(real, self.root):
            raise KeyRefused("refused: path is outside the bucket")
        return real

    def _open(self, key: str, max_bytes: int) -> tuple[BinaryIO, int]:
        """The key's regular file, opened without following a final link, and its size;
        SourceError for a vanished or odd file, FileTooLarge past `max_bytes`."""
        real = self.resolve(key)
        try:
            fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
        except FileNotFoundError as exc:
            raise SourceError("file vanished before it could be read") from exc
        except OSError as exc:
            raise SourceError(f"cannot open: {exc.strerror or exc}") from exc
        fh = os.fdopen(fd, "rb")
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:
            fh.close()
            if not stat.S_ISREG(st.st_mode):
                raise SourceError("not a regular file")
            raise FileTooLarge(f"file too large: {st.st_size} bytes exceeds the limit of {max_bytes}")
        return fh, st.st_size

    def read_range(self, key: str, start: int, length: int, max_bytes: int) -> tuple[bytes, int]:
        fh, size = self._open(key, max_bytes)
        with fh:
            fh.seek(start)
            return fh.read(max(0, length)), size

    def read(self, key: str, max_bytes: int) -> bytes:
        fh, _size = self._open(key, max_bytes)
        with fh:
            # Read one byte past the limit: a file that grew since stat is still caught.
            data = fh.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise FileTooLarge(f"file too large: over the limit of {max_bytes} bytes")
        return data
