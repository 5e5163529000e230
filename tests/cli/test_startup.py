"""Commands that embed nothing start without torch, open_clip or faiss (issue 15).

Each command runs in a fresh interpreter under `-X importtime`, which lists every module the
process imported; none may belong to the model or index libraries.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pixseek.cli import COMMANDS
from pixseek.cli.lazy import LazyCommand

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"torch", "open_clip", "faiss"}

LIGHT_RUNS = [
    ("--help",),
    ("--version",),
    ("migrate",),
    ("keys", "list", "--json"),
    ("tags", "list", "--json"),
    *((name, "--help") for name in COMMANDS),
    ("duplicates", "check", "--help"),
    ("duplicates", "resolve", "--help"),
]


def run_pixseek(args: tuple[str, ...], data_dir: Path) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `python -X importtime -m pixseek ARGS` from this checkout; the result and the
    top-level packages it imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXSEEK_")}
    env["PIXSEEK_DATA_DIR"] = str(data_dir)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pixseek", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    imported = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return result, imported


@pytest.mark.parametrize("args", LIGHT_RUNS, ids=" ".join)
def test_light_command_imports_no_model_or_index_library(args: tuple[str, ...], tmp_path: Path) -> None:
    result, imported = run_pixseek(args, tmp_path / "data")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "pixseek" in imported and "click" in imported  # the parse saw the imports at all
    assert imported & HEAVY == set()


def test_status_answers_on_an_empty_data_dir_without_them(tmp_path: Path) -> None:
    result, imported = run_pixseek(("status", "--json"), tmp_path / "data")
    assert result.returncode == 0, result.stderr[-2000:]
    document = json.loads(result.stdout)
    assert document["images"] == {} and document["index"] is None and document["patch_index"] is None
    assert imported & HEAVY == set()


def test_jobs_answers_without_them(tmp_path: Path) -> None:
    result, imported = run_pixseek(("jobs", "--json"), tmp_path / "data")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == {"jobs": []}
    assert imported & HEAVY == set()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_registered_help_line_is_the_commands_own(name: str) -> None:
    command = COMMANDS[name].load()
    assert command.name == name
    assert COMMANDS[name].short_help == command.get_short_help_str(limit=10_000)


def test_a_target_that_is_not_a_command_is_refused() -> None:
    with pytest.raises(TypeError, match="not a click command"):
        LazyCommand("pixseek.cli.common:emit", "Print JSON.").load()
