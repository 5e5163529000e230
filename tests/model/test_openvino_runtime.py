"""The OpenVINO runtime's checks, in a process of their own (`openvino_checks.py`).

OpenVINO brings its own thread pools (TBB) into the process beside torch's and faiss's
OpenMP; the suite's process, which goes on to run threaded ingests for hundreds of tests,
crashed intermittently after they had been loaded in it. A child process keeps them apart.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("openvino")
pytestmark = pytest.mark.slow  # a pytest of its own: torch, OpenVINO and three conversions

CHECKS = Path(__file__).with_name("openvino_checks.py")
ROOT = Path(__file__).resolve().parents[2]


def test_the_openvino_runtime_checks_pass_in_their_own_process() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", str(CHECKS)],
        cwd=ROOT,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "7 passed" in result.stdout, result.stdout[-2000:]
