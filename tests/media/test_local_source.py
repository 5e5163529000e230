"""The local folder bucket: a recursive walk that never leaves the root and never hangs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pixseek.core.errors import BucketNotFound, InvalidRequest
from pixseek.core.settings import Settings
from pixseek.media.sources import Entry, SourceError, open_source
from pixseek.media.sources.local import LocalSource
from tests.support.images import write_image


def listing(source: LocalSource) -> dict[str, Entry]:
    return {entry.key: entry for entry in source.list()}


def test_walk_is_recursive_with_posix_keys(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 1)
    write_image(tmp_path / "sub" / "b.png", 2)
    write_image(tmp_path / "sub" / "deeper" / "c d.png", 3)
    entries = listing(LocalSource(tmp_path))
    assert set(entries) == {"a.png", "sub/b.png", "sub/deeper/c d.png"}
    entry = entries["sub/b.png"]
    assert entry.size == (tmp_path / "sub" / "b.png").stat().st_size
    assert entry.mtime == (tmp_path / "sub" / "b.png").stat().st_mtime
    assert entry.skip is None and entry.refuse is None


def test_bucket_is_the_resolved_root(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    source = LocalSource(tmp_path / "alias" / ".." / "alias")
    assert source.bucket == os.path.realpath(tmp_path / "real")


def test_listing_order_is_stable_whatever_the_creation_order(tmp_path: Path) -> None:
    names = ["b.png", "a.png", "sub/z.png", "sub/m.png", "c/x.png", "A.png"]
    for i, name in enumerate(names):
        write_image(tmp_path / "one" / name, i)
    for i, name in reversed(list(enumerate(names))):
        write_image(tmp_path / "two" / name, i)
    first = [e.key for e in LocalSource(tmp_path / "one").list()]
    assert first == [e.key for e in LocalSource(tmp_path / "one").list()]
    assert first == [e.key for e in LocalSource(tmp_path / "two").list()]
    assert sorted(first) == sorted(names)


def test_hidden_files_are_skipped_with_a_reason(tmp_path: Path) -> None:
    write_image(tmp_path / ".secret.png", 1)
    write_image(tmp_path / "sub" / ".DS_Store", 2)
    write_image(tmp_path / "visible.png", 3)
    entries = listing(LocalSource(tmp_path))
    assert entries[".secret.png"].skip == "hidden file"
    assert entries["sub/.DS_Store"].skip == "hidden file"
    assert entries["visible.png"].skip is None


def test_hidden_folders_are_not_walked(tmp_path: Path) -> None:
    write_image(tmp_path / ".git" / "objects" / "a.png", 1)
    write_image(tmp_path / ".cache" / "b.png", 2)
    write_image(tmp_path / "c.png", 3)
    assert list(listing(LocalSource(tmp_path))) == ["c.png"]


def test_symlink_to_a_file_outside_the_root_is_refused(tmp_path: Path) -> None:
    outside = write_image(tmp_path / "outside" / "secret.png", 1)
    root = tmp_path / "bucket"
    root.mkdir()
    (root / "link.png").symlink_to(outside)
    source = LocalSource(root)
    entry = listing(source)["link.png"]
    assert entry.refuse is not None and "outside the bucket" in entry.refuse
    with pytest.raises(SourceError, match="outside the bucket"):
        source.read("link.png", 10**6)


def test_symlinked_folder_outside_the_root_is_refused_and_not_walked(tmp_path: Path) -> None:
    write_image(tmp_path / "outside" / "secret.png", 1)
    root = tmp_path / "bucket"
    root.mkdir()
    (root / "escape").symlink_to(tmp_path / "outside", target_is_directory=True)
    entries = listing(LocalSource(root))
    assert list(entries) == ["escape"]
    assert entries["escape"].refuse is not None and "outside the bucket" in entries["escape"].refuse


def test_relative_symlink_climbing_out_is_refused(tmp_path: Path) -> None:
    write_image(tmp_path / "secret.png", 1)
    root = tmp_path / "bucket"
    root.mkdir()
    (root / "up.png").symlink_to(Path("..") / "secret.png")
    assert listing(LocalSource(root))["up.png"].refuse is not None


def test_symlink_inside_the_root_is_followed(tmp_path: Path) -> None:
    target = write_image(tmp_path / "real" / "a.png", 1)
    (tmp_path / "alias.png").symlink_to(target)
    source = LocalSource(tmp_path)
    entries = listing(source)
    assert entries["alias.png"].refuse is None
    assert source.read("alias.png", 10**6) == target.read_bytes()


def test_broken_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "gone.png").symlink_to(tmp_path / "missing.png")
    entry = listing(LocalSource(tmp_path))["gone.png"]
    assert entry.refuse == "refused: broken symlink"


def test_symlink_loops_end_the_walk(tmp_path: Path) -> None:
    write_image(tmp_path / "a" / "x.png", 1)
    write_image(tmp_path / "b" / "y.png", 2)
    (tmp_path / "a" / "to_b").symlink_to(tmp_path / "b", target_is_directory=True)
    (tmp_path / "b" / "to_a").symlink_to(tmp_path / "a", target_is_directory=True)
    (tmp_path / "self").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "knot").symlink_to(tmp_path / "knot")
    entries = listing(LocalSource(tmp_path))
    # Each real folder is walked once, whichever name reaches it first.
    assert sorted(k for k, e in entries.items() if e.refuse is None) == ["a/x.png", "b/y.png"]
    assert entries["knot"].refuse is not None


def test_fifo_is_skipped_and_never_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.png")
    write_image(tmp_path / "ok.png", 1)
    source = LocalSource(tmp_path)
    entries = listing(source)  # would block forever if the walk opened the FIFO
    assert entries["pipe.png"].skip == "not a regular file"
    with pytest.raises(SourceError, match="not a regular file"):
        source.read("pipe.png", 10**6)


def test_read_refuses_keys_that_leave_the_root(tmp_path: Path) -> None:
    write_image(tmp_path / "secret.png", 1)
    root = tmp_path / "bucket"
    write_image(root / "ok.png", 2)
    source = LocalSource(root)
    for key in ("../secret.png", "sub/../../secret.png", "/etc/passwd", "", "a\x00b"):
        with pytest.raises(SourceError) as err:
            source.read(key, 10**6)
        assert (err.value.status_code, err.value.code) == (403, "forbidden"), key


def test_read_refuses_files_over_the_size_limit(tmp_path: Path) -> None:
    path = write_image(tmp_path / "a.png", 1)
    size = path.stat().st_size
    source = LocalSource(tmp_path)
    assert source.read("a.png", size) == path.read_bytes()
    with pytest.raises(SourceError, match="file too large") as err:
        source.read("a.png", size - 1)
    assert (err.value.status_code, err.value.code) == (413, "payload_too_large")


def test_read_of_a_vanished_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="vanished") as err:
        LocalSource(tmp_path).read("nope.png", 10**6)
    assert (err.value.status_code, err.value.code) == (404, "file_unreadable")


def test_missing_or_non_folder_bucket_is_bucket_not_found(tmp_path: Path) -> None:
    with pytest.raises(BucketNotFound):
        LocalSource(tmp_path / "nope")
    with pytest.raises(BucketNotFound):
        LocalSource(write_image(tmp_path / "a.png", 1))


def test_open_source_takes_paths_and_file_uris(tmp_path: Path, settings: Settings) -> None:
    assert open_source(str(tmp_path), settings).bucket == os.path.realpath(tmp_path)
    assert open_source(f"file://{tmp_path}", settings).bucket == os.path.realpath(tmp_path)
    with pytest.raises(InvalidRequest, match="unsupported bucket scheme"):
        open_source("ftp://example.com/x", settings)


def test_bucket_that_vanished_before_listing_raises_instead_of_looking_empty(tmp_path: Path) -> None:
    root = tmp_path / "bucket"
    write_image(root / "a.png", 1)
    source = LocalSource(root)
    (root / "a.png").unlink()
    root.rmdir()
    with pytest.raises(BucketNotFound, match="cannot list bucket folder"):
        list(source.list())


def test_names_that_are_not_utf8_are_skipped_under_an_escaped_key(tmp_path: Path) -> None:
    write_image(tmp_path / "ok.png", 1)
    (Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9.png"))).write_bytes(b"x")
    folder = Path(os.fsdecode(bytes(tmp_path) + b"/dossier-\xe9t\xe9"))
    write_image(folder / "inside.png", 2)
    entries = listing(LocalSource(tmp_path))
    assert set(entries) == {"ok.png", "caf\\xe9.png", "dossier-\\xe9t\\xe9"}
    assert entries["caf\\xe9.png"].skip == "file name is not valid UTF-8"
    assert entries["dossier-\\xe9t\\xe9"].skip == "file name is not valid UTF-8"
    for key in entries:
        key.encode("utf-8")  # every key can be stored
