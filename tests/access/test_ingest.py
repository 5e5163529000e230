"""What the API may ingest, decided before any bucket is opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixseek.access.ingest import allowed_bucket
from pixseek.core.errors import IngestNotAllowed, InvalidRequest
from pixseek.core.settings import Settings


@pytest.fixture
def roots(tmp_path: Path) -> Settings:
    (tmp_path / "photos" / "2024").mkdir(parents=True)
    (tmp_path / "photos" / "out").symlink_to(tmp_path, target_is_directory=True)
    return Settings(ingest_roots=[tmp_path / "photos"], ingest_buckets=["images", "s3://archive/"])


def test_folders_under_a_root_come_back_as_their_real_path(roots: Settings, tmp_path: Path) -> None:
    photos = (tmp_path / "photos").resolve()
    assert allowed_bucket(str(photos), roots) == str(photos)
    assert allowed_bucket(f"{photos}/2024/../2024/", roots) == str(photos / "2024")
    assert allowed_bucket(f"file://{photos}/2024", roots) == str(photos / "2024")
    assert allowed_bucket(f"{photos}/not-yet", roots) == str(photos / "not-yet")  # 404 comes later


@pytest.mark.parametrize(
    "path",
    [
        "/etc",
        "{tmp}",
        "{tmp}/photos/..",
        "{tmp}/photos/out",
        "{tmp}/photos/out/photos/../..",
        "{tmp}/photos2",
    ],
)
def test_folders_outside_every_root_are_refused(roots: Settings, tmp_path: Path, path: str) -> None:
    with pytest.raises(IngestNotAllowed, match="outside PIXSEEK_INGEST_ROOTS"):
        allowed_bucket(path.format(tmp=tmp_path), roots)


def test_s3_buckets_only_from_the_allow_list(roots: Settings) -> None:
    assert allowed_bucket("s3://images/cats/", roots) == "s3://images/cats/"
    assert allowed_bucket("s3://archive", roots) == "s3://archive"
    for uri in ["s3://other/cats", "s3://images-old/x", "s3://IMAGES/x", "s3:///images"]:
        with pytest.raises(IngestNotAllowed, match="PIXSEEK_INGEST_BUCKETS"):
            allowed_bucket(uri, roots)


def test_nothing_is_allowed_by_default_and_the_message_names_the_setting(tmp_path: Path) -> None:
    settings = Settings()
    with pytest.raises(IngestNotAllowed, match="PIXSEEK_INGEST_ROOTS is not set"):
        allowed_bucket(str(tmp_path), settings)
    with pytest.raises(IngestNotAllowed, match="PIXSEEK_INGEST_BUCKETS is not set"):
        allowed_bucket("s3://images", settings)


@pytest.mark.parametrize("path", ["photos", "./photos", "ftp://host/x", "http://host/x", "/a\x00b"])
def test_relative_paths_nul_bytes_and_other_schemes_are_invalid(roots: Settings, path: str) -> None:
    with pytest.raises(InvalidRequest):
        allowed_bucket(path, roots)
