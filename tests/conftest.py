"""Shared fixtures: isolated settings with the tiny random-weight model, and image folders."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from pixseek.core.db import dispose_engines, ensure_schema
from pixseek.core.settings import Settings, get_settings
from tests.imagegen import write_images

# Settings built anywhere in the suite's process (benchmarks' smoke runs included) embed on
# torch, and so do the commands it starts, unless they ask for a runtime themselves.
os.environ["PIXSEEK_RUNTIME"] = "torch"

# One thread: the tiny model's batches are too small to gain from more, and on a shared
# 2-core machine extra OpenMP threads spin against other work and make each forward slower.
torch.set_num_threads(1)

TEST_ENV = {
    "PIXSEEK_MODEL": "pixseek-tiny",
    "PIXSEEK_PRETRAINED": "none",
    "PIXSEEK_DEVICE": "cpu",
    "PIXSEEK_PRECISION": "fp32",
    # torch in the suite's process: OpenVINO's thread pools beside torch's and faiss's OpenMP
    # crashed it intermittently (tests/ingest/test_openvino_runtime.py checks OpenVINO apart).
    "PIXSEEK_RUNTIME": "torch",
    "PIXSEEK_BATCH_SIZE": "8",
    "PIXSEEK_DECODE_WORKERS": "2",
    # One tile across the shorter side: 96x64 test images get 4 x 6 cells of 16 px.
    "PIXSEEK_REGION_TILES": "1",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def make_settings(data_dir: Path) -> Settings:
    """Test settings that ignore the environment, for fixtures wider than one test."""
    values = {name.removeprefix("PIXSEEK_").lower(): value for name, value in TEST_ENV.items()}
    return Settings(data_dir=data_dir, database_url=None, broker_url=None, **values)  # type: ignore[arg-type]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def settings(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings for one test: its own data dir and SQLite file, the tiny model.

    The same values are put in the environment, so code that reads `get_settings()`
    (the CLI, Celery tasks) sees them too.
    """
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PIXSEEK_DATA_DIR", str(data_dir))
    monkeypatch.delenv("PIXSEEK_DATABASE_URL", raising=False)
    monkeypatch.delenv("PIXSEEK_BROKER_URL", raising=False)
    get_settings.cache_clear()
    current = get_settings()
    ensure_schema(current)
    yield current
    get_settings.cache_clear()
    dispose_engines()


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    """A folder with six distinct PNG images."""
    folder = tmp_path / "bucket"
    write_images(folder, 6)
    return folder
