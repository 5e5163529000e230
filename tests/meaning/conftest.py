"""Fixtures of the tests of meaning: the bundled tiny model, the held-out library ingested once.

Everything goes through the entry points users have: the `pixseek` CLI with `--json`, and
the HTTP API through FastAPI's TestClient. The model is loaded the way a user loads a
local checkpoint: `PIXSEEK_MODEL=pixseek-scenes PIXSEEK_PRETRAINED=<file>`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pixseek.core.db import dispose_engines
from pixseek.core.settings import Settings, get_settings
from pixseek.demo.library import Library, build_library
from tests.support.cli import cli_json
from tests.support.meaning import MEANING_ENV


def _environment(data_dir: Path) -> dict[str, str]:
    return {**MEANING_ENV, "PIXSEEK_DATA_DIR": str(data_dir)}


@pytest.fixture(scope="session")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Library]:
    """The held-out library, generated and ingested (each folder its own bucket) once per session."""
    root = tmp_path_factory.mktemp("meaning")
    lib = build_library(root / "library")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in _environment(root / "data").items():
            mp.setenv(name, value)
        for name in ("PIXSEEK_DATABASE_URL", "PIXSEEK_BROKER_URL"):
            mp.delenv(name, raising=False)
        get_settings.cache_clear()
        for folder in ("single", "pairs", "retakes"):
            summary = cli_json("ingest", str(lib.folder(folder)))
            pictures = len(list(lib.folder(folder).glob("*.png")))
            assert summary["failed"] == [] and summary["indexed"] == pictures > 0, summary
        get_settings.cache_clear()
        dispose_engines()
    yield lib


@pytest.fixture
def meaning(library: Library, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """This test runs against the library's data dir with the tiny model; its settings."""
    for name, value in _environment(library.root.parent / "data").items():
        monkeypatch.setenv(name, value)
    for name in ("PIXSEEK_DATABASE_URL", "PIXSEEK_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()
    dispose_engines()
