"""Running `pixseek` in-process as a user would, reading its `--json` document."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from pixseek.cli import main


def cli_json(*args: str) -> Any:
    """Run `pixseek ARGS --json` in-process; the parsed JSON document."""
    result = CliRunner().invoke(main, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)
