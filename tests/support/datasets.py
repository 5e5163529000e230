"""The real photos in `shared/datasets/` beside a checkout (or beside its worktrees folder)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_dataset(name: str) -> Path:
    """`shared/datasets/<name>` next to this checkout; skips the test where it is absent."""
    for base in (REPO.parent, REPO.parent.parent, REPO):
        folder = base / "shared" / "datasets" / name
        if folder.is_dir():
            return folder.resolve()
    pytest.skip(f"the {name} sample (shared/datasets/{name}) is not on this machine")
