"""The client is light: importing it loads no torch, open_clip, faiss, numpy or SQL code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "open_clip", "faiss", "numpy", "sqlalchemy", "fastapi", "PIL")


def test_importing_the_client_loads_no_model_index_or_server_code() -> None:
    code = f"import sys, pixseek.client; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.stdout.strip() == "", f"importing pixseek.client loaded {result.stdout.strip()}"
