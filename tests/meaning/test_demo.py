"""`pixseek demo`: generates, ingests with the bundled model, and its three searches make sense."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from pixseek.cli import main
from pixseek.core.settings import Settings


def test_demo_finds_what_it_asks_for(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = CliRunner().invoke(
        main, ["demo", str(folder), "--count", "80", "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["ingest"]["indexed"] == 80 and document["ingest"]["failed"] == []
    text, composed, region = document["searches"]
    assert "red circle" in text["results"][0]["caption"]
    top = composed["results"][0]["caption"]
    assert "circle" in top and "red circle" not in top
    assert "blue square" in region["results"][0]["caption"] and len(region["results"][0]["box"]) == 4
    assert (folder / "scenes" / "scene0000.txt").read_text().strip() == json.loads(
        (folder / "scenes" / "scenes.jsonl").read_text().splitlines()[0]
    )["caption"]

    again = CliRunner().invoke(main, ["demo", str(folder), "--count", "80"], catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert "80 unchanged" in again.output and "1. text: a red circle" in again.output
