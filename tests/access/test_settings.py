"""The access settings refuse values that would open more than meant."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pixseek.core.settings import Settings


def test_the_file_system_root_is_no_ingest_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PIXSEEK_INGEST_ROOTS", '["/"]')
    with pytest.raises(ValidationError, match="file system root"):
        Settings()
    monkeypatch.setenv("PIXSEEK_INGEST_ROOTS", f'["{tmp_path}/a/../b"]')
    assert Settings().ingest_roots == [tmp_path.resolve() / "b"]


def test_ingest_buckets_are_bucket_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXSEEK_INGEST_BUCKETS", '["images", "s3://archive/"]')
    assert Settings().ingest_buckets == ["images", "archive"]
    for bad in ['["images/cats"]', '["*"]', '[""]', '["Images"]']:
        monkeypatch.setenv("PIXSEEK_INGEST_BUCKETS", bad)
        with pytest.raises(ValidationError, match="not an S3 bucket name"):
            Settings()
