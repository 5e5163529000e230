"""The access settings refuse values that would open more than meant."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pixseek.core.settings import Settings


@pytest.mark.parametrize(
    "value",
    ["short", "x" * 31, "x" * 257, "has space" + "x" * 40, "naïve" + "x" * 40, "x" * 40 + "\n"],
)
def test_a_weak_or_odd_bootstrap_key_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PIXSEEK_BOOTSTRAP_API_KEY", value)
    with pytest.raises(ValidationError, match="PIXSEEK_BOOTSTRAP_API_KEY"):
        Settings()


def test_an_empty_bootstrap_key_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXSEEK_BOOTSTRAP_API_KEY", "")  # docker-compose's unset variable
    assert Settings().bootstrap_api_key is None
    monkeypatch.setenv("PIXSEEK_BOOTSTRAP_API_KEY", "0" * 64)
    key = Settings().bootstrap_api_key
    assert key is not None and key.get_secret_value() == "0" * 64
    assert "0" * 64 not in repr(Settings())


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


@pytest.mark.parametrize(("name", "value"), [("RATE_LIMIT_PER_SECOND", "0"), ("RATE_LIMIT_BURST", "0")])
def test_a_rate_limit_that_refuses_everything_is_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(f"PIXSEEK_{name}", value)
    with pytest.raises(ValidationError):
        Settings()
