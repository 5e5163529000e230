"""Fixtures of the tests of meaning: the bundled tiny model, the held-out library ingested once.

Everything goes through the entry points users have: the `pixseek` CLI with `--json`, and
the HTTP API through FastAPI's TestClient. The model is loaded the way a user loads a
local checkpoint: `PIXSEEK_MODEL=pixseek-scenes PIXSEEK_PRETRAINED=<file>`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pixseek.cli import main
from pixseek.core.db import dispose_engines
from pixseek.core.settings import Settings, get_settings
from pixseek.demo.library import Library, build_library
from pixseek.model.bundled import SCENES_MODEL, SCENES_WEIGHTS

MEANING_ENV = {
    "PIXSEEK_MODEL": SCENES_MODEL,
    "PIXSEEK_PRETRAINED": str(SCENES_WEIGHTS),
    "PIXSEEK_DEVICE": "cpu",
    "PIXSEEK_PRECISION": "fp32",
    "PIXSEEK_RUNTIME": "torch",  # in the suite's process, as tests/conftest.py says
    "PIXSEEK_BATCH_SIZE": "32",
    "PIXSEEK_DECODE_WORKERS": "2",
    # Hundreds of queries in a row, as fast as the machine answers: not what rate limits are for.
    "PIXSEEK_RATE_LIMIT_PER_SECOND": "100000",
    "PIXSEEK_RATE_LIMIT_BURST": "100000",
}


def cli_json(*args: str) -> Any:
    """Run `pixseek ARGS --json` in-process; the parsed JSON document."""
    result = CliRunner().invoke(main, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


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


def bucket(library: Library, folder: str) -> str:
    """The bucket name a local folder is cataloged under (its real path)."""
    return os.path.realpath(library.folder(folder))
