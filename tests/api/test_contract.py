"""The OpenAPI document is exact: schemathesis, as a client generator would read it, runs
every check against a live server with keys configured and finds nothing.

Bounded to a few examples per operation (the examples, fuzzing and stateful phases; the
coverage phase's ~2,500 boundary cases take ~90 s on two cores and run in the longer
`PIXSEEK_CONTRACT_FULL=1` run, docs/api.md). Two answers are outside any schema's reach
and are the only findings allowed: a box that does not fit the image it is drawn on
(`invalid_region`) and query parts that cancel each other out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.live_server import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("live-server")]

EXAMPLES = os.environ.get("PIXSEEK_CONTRACT_EXAMPLES", "3")
PHASES = (
    "examples,coverage,fuzzing,stateful"
    if os.environ.get("PIXSEEK_CONTRACT_FULL")
    else "examples,fuzzing,stateful"
)
# An image upload is schema-valid whatever its bytes; 415 is the answer to bytes that are no image.
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "415", "429", "5xx"]
"""
# ... and a split's names, one per ratio: JSON Schema cannot tie two arrays' lengths.
BEYOND_SCHEMA = ('"invalid_region"', "cancel each other out", "one distinct name per ratio")


def _findings(output: str) -> list[str]:
    """Each failure block of schemathesis's report: `- STxxx title` up to the next one."""
    return re.findall(r"^- ST\d+ .*?(?=^- ST\d+ |^_{5,}|^={5,})", output, flags=re.M | re.S)


def test_schemathesis_finds_nothing(live: LiveServer, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
        f"{live.url}/openapi.json", "--checks", "all", "--phases", PHASES,
        "--max-examples", EXAMPLES, "--seed", "7", "--no-shrink", "--workers", "1",
        "--header", f"Authorization: Bearer {live.key}", "--request-timeout", "60",
    ]  # fmt: skip
    # From a temp dir: schemathesis keeps a cache of what it found in its working directory.
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert "API Operations" in output, output[-3000:]
    unexpected = [f for f in _findings(output) if not any(mark in f for mark in BEYOND_SCHEMA)]
    assert not unexpected, "\n".join(unexpected)[:6000]


def test_every_error_is_declared_with_the_one_error_body(live: LiveServer) -> None:
    spec = httpx.get(f"{live.url}/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            errors = {
                code: r for code, r in operation["responses"].items() if code.isdigit() and int(code) >= 400
            }
            assert {"500", "503"} <= set(errors), (method, path)
            for response in errors.values():
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorBody"
                }, (method, path)
            if operation.get("security"):
                assert {"401", "403", "429"} <= set(errors), (method, path)
