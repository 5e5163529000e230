"""Moving one file between two places (a bucket and its quarantine) so that a crash at any
point loses nothing and leaves no second copy behind once the move is run again.

A move is judged by what is on disk, not by what a journal says: the same call finishes a
move that was cut short, does nothing for one already done, and refuses to overwrite a
different file. A local move links the file under its new name (refused if that name is
taken) before it unlinks the old one; the two names never point at different bytes, and a
crash between them leaves two names of one inode, which the next call resolves. Across
filesystems the bytes are copied to a temporary name, synced and checked, then linked in.
On S3 an object is copied server-side, checked (size and ETag) and only then deleted.
Nothing here deletes a file that has no verified copy at the other place.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from pixseek.core.errors import InvalidRequest
from pixseek.core.settings import Settings
from pixseek.media.sources.base import KeyRefused

CHUNK = 1 << 20


class MoveRefused(Exception):
    """A move that would overwrite or lose something; the message says what was found."""


@dataclass(frozen=True)
class Found:
    """A file as found at one place: its size and a fingerprint (sha256 locally, ETag on S3)."""

    size: int
    fingerprint: str
    symlink: bool = False


class Place(ABC):
    """A root (a folder, or an S3 bucket and prefix) under which files are named by keys."""

    uri: str

    @abstractmethod
    def find(self, key: str) -> Found | None:
        """What is stored under `key`, or None."""

    def target(self, key: str) -> str:
        return f"{self.uri.rstrip('/')}/{key}"


def _check_key(key: str) -> None:
    parts = key.split("/")
    if not key or key.startswith("/") or "\x00" in key or any(p in ("", ".", "..") for p in parts):
        raise KeyRefused(f"invalid key: {key!r}")


class LocalPlace(Place):
    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(os.path.expanduser(root))
        self.uri = self.root

    def path(self, key: str) -> str:
        _check_key(key)
        return os.path.join(self.root, *key.split("/"))

    def find(self, key: str) -> Found | None:
        path = self.path(key)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(st.st_mode):
            return Found(0, "", symlink=True)
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
        return Found(st.st_size, digest.hexdigest())


class S3Place(Place):
    def __init__(self, uri: str, settings: Settings) -> None:
        from pixseek.media.sources.s3 import SCHEME, parse_uri, s3_client

        self.name, self.prefix = parse_uri(uri)
        self.uri = f"{SCHEME}{self.name}/{self.prefix}" if self.prefix else f"{SCHEME}{self.name}"
        self.client = s3_client(settings)

    def object_key(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def find(self, key: str) -> Found | None:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.name, Key=self.object_key(key))
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return Found(int(head["ContentLength"]), str(head.get("ETag", "")).strip('"'))


def open_place(uri: str, settings: Settings) -> Place:
    """A local folder path (or `file://`) or `s3://bucket/prefix` as a place files move to or from."""
    if uri.lower().startswith("s3://"):
        return S3Place(uri, settings)
    return LocalPlace(uri.removeprefix("file://"))


def same_file(a: Found, b: Found) -> bool:
    """The same bytes, as far as the fingerprints tell: a multipart ETag ("...-N") changes
    when S3 copies the object, so there only the size can be compared."""
    if a.size != b.size:
        return False
    if "-" in a.fingerprint or "-" in b.fingerprint:
        return True
    return a.fingerprint == b.fingerprint


def move(src: Place, dst: Place, key: str, expected: Found) -> str:
    """Move `key` from `src` to `dst` (the same key); `expected` is the file as planned.

    Returns "moved", or "done" when an earlier run had already moved it (finishing a move
    a crash cut short). Raises MoveRefused, touching nothing, when the file changed since
    it was planned, when another file sits at the target, or when it is at neither place.
    """
    if type(src) is not type(dst):
        raise InvalidRequest("a file moves between two folders or two S3 prefixes, not across")
    if _same_place(src, dst, key):
        raise MoveRefused(f"{src.target(key)} is its own quarantine: nothing to move")
    if isinstance(dst, LocalPlace):
        with contextlib.suppress(FileNotFoundError, KeyRefused):
            os.unlink(_part(dst.path(key)))  # a copy across filesystems cut short
    there = dst.find(key)
    here = src.find(key)
    if here is not None and here.symlink:
        raise MoveRefused("a symbolic link: not moved")
    if there is not None:
        if there.symlink or not same_file(there, expected):
            raise MoveRefused(f"another file is already at {dst.target(key)}")
        if here is not None:
            if not same_file(here, expected):
                raise MoveRefused(f"{src.target(key)} changed and a copy is at {dst.target(key)}")
            _remove(src, key)  # the move was cut short after the copy: finish it
        return "done"
    if here is None:
        raise MoveRefused(f"the file is at neither {src.target(key)} nor {dst.target(key)}")
    if not same_file(here, expected):
        raise MoveRefused(f"{src.target(key)} changed since it was planned")
    _copy(src, dst, key, here)
    _remove(src, key)
    return "moved"


def _same_place(src: Place, dst: Place, key: str) -> bool:
    """Whether both names are one (a quarantine that is the bucket itself): then "the copy
    is already there" would drop the only one."""
    if isinstance(src, LocalPlace) and isinstance(dst, LocalPlace):
        return os.path.realpath(src.path(key)) == os.path.realpath(dst.path(key))
    if isinstance(src, S3Place) and isinstance(dst, S3Place):
        return (src.name, src.object_key(key)) == (dst.name, dst.object_key(key))
    return False


def _copy(src: Place, dst: Place, key: str, found: Found) -> None:
    if isinstance(src, LocalPlace) and isinstance(dst, LocalPlace):
        _link_or_copy(src.path(key), dst.path(key), found)
    elif isinstance(src, S3Place) and isinstance(dst, S3Place):
        dst.client.copy_object(
            Bucket=dst.name,
            Key=dst.object_key(key),
            CopySource={"Bucket": src.name, "Key": src.object_key(key)},
        )
        copied = dst.find(key)
        if copied is None or not same_file(copied, found):
            raise MoveRefused(f"the copy at {dst.target(key)} does not match {src.target(key)}")


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _link_or_copy(source: str, target: str, found: Found) -> None:
    """A second name for the file at `target`, never overwriting one (link(2) refuses)."""
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    try:
        os.link(source, target, follow_symlinks=False)
    except FileExistsError as exc:
        raise MoveRefused(f"another file appeared at {target}") from exc
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EMLINK):
            raise
        _copy_across(source, target, found)
    _fsync_dir(folder)


def _part(target: str) -> str:
    return os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.pixseek-part")


def _copy_across(source: str, target: str, found: Found) -> None:
    """Another filesystem: copy to a temporary name, sync, check the digest, link it in."""
    temporary = _part(target)
    digest = hashlib.sha256()
    with open(source, "rb") as fin, open(temporary, "wb") as fout:
        while chunk := fin.read(CHUNK):
            digest.update(chunk)
            fout.write(chunk)
        fout.flush()
        os.fsync(fout.fileno())
    try:
        if digest.hexdigest() != found.fingerprint:
            raise MoveRefused(f"{source} changed while it was copied")
        st = os.stat(source)
        os.utime(temporary, ns=(st.st_atime_ns, st.st_mtime_ns))  # an unchanged file to ingest
        os.link(temporary, target)
    except FileExistsError as exc:
        raise MoveRefused(f"another file appeared at {target}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _remove(place: Place, key: str) -> None:
    """Drop the old name of a file whose copy at the other place was checked."""
    if isinstance(place, LocalPlace):
        path = place.path(key)
        os.unlink(path)
        _fsync_dir(os.path.dirname(path))
    elif isinstance(place, S3Place):
        place.client.delete_object(Bucket=place.name, Key=place.object_key(key))


def prune_empty(place: Place, keys: list[str]) -> None:
    """Remove the folders under a local place that moving `keys` out left empty, and the root."""
    if not isinstance(place, LocalPlace):
        return
    folders: set[str] = set()
    for key in keys:
        parts = key.split("/")[:-1]
        for depth in range(len(parts), 0, -1):
            folders.add(os.path.join(place.root, *parts[:depth]))
    for folder in [*sorted(folders, key=len, reverse=True), place.root]:
        with contextlib.suppress(OSError):
            os.rmdir(folder)  # only ever succeeds on an empty folder


def describe(found: Found | None) -> dict[str, Any]:
    return {} if found is None else {"size": found.size, "fingerprint": found.fingerprint}
