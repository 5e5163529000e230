"""Test settings: the tiny random-weight model on the CPU, with a data dir and database given."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pixseek.core.db import dispose_engines, ensure_schema, get_engine, migrate
from pixseek.core.settings import Settings, get_settings

TEST_ENV = {
    "PIXSEEK_MODEL": "pixseek-tiny",
    "PIXSEEK_PRETRAINED": "none",
    "PIXSEEK_DEVICE": "cpu",
    "PIXSEEK_PRECISION": "fp32",
    # torch in the suite's processes: OpenVINO's thread pools beside torch's and faiss's
    # OpenMP crashed them intermittently (tests/model/test_openvino_runtime.py checks
    # OpenVINO in a process of its own).
    "PIXSEEK_RUNTIME": "torch",
    "PIXSEEK_BATCH_SIZE": "8",
    "PIXSEEK_DECODE_WORKERS": "2",
    # One tile across the shorter side: 96x64 test images get 4 x 6 cells of 16 px.
    "PIXSEEK_REGION_TILES": "1",
}


def make_settings(data_dir: Path) -> Settings:
    """Test settings that ignore the environment, for fixtures wider than one test."""
    values = {name.removeprefix("PIXSEEK_").lower(): value for name, value in TEST_ENV.items()}
    return Settings(data_dir=data_dir, database_url=None, broker_url=None, **values)  # type: ignore[arg-type]


_SQLITE_TEMPLATE: list[Path] = []


def _sqlite_template() -> Path:
    """A catalog file at the newest schema, made once per process: a test's catalog starts as
    a copy (a millisecond, where running the migrations takes ~0.1 s)."""
    if not _SQLITE_TEMPLATE:
        folder = Path(tempfile.mkdtemp(prefix="pixseek-schema-"))
        settings = make_settings(folder)
        migrate(settings)
        get_engine(settings).dispose()
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _SQLITE_TEMPLATE.append(Path(settings.sqlalchemy_url.removeprefix("sqlite:///")))
    return _SQLITE_TEMPLATE[0]


@contextmanager
def configured(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, database_url: str | None
) -> Iterator[Settings]:
    """Test settings with this data dir and database, schema migrated, also in the environment.

    Code that reads `get_settings()` (the CLI, Celery tasks run eagerly) sees the same values.
    """
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PIXSEEK_DATA_DIR", str(data_dir))
    monkeypatch.delenv("PIXSEEK_BROKER_URL", raising=False)
    if database_url:
        monkeypatch.setenv("PIXSEEK_DATABASE_URL", database_url)
    else:
        monkeypatch.delenv("PIXSEEK_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    current = get_settings()
    catalog = Path(current.sqlalchemy_url.removeprefix("sqlite:///"))
    if current.sqlalchemy_url.startswith("sqlite:///") and not catalog.exists():
        catalog.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_sqlite_template(), catalog)
    ensure_schema(current)  # only checks the version now
    try:
        yield current
    finally:
        get_settings.cache_clear()
        dispose_engines()
