"""The issue's acceptance run over the shared COCO sample, with the tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixseek.core.settings import Settings
from tests.support.cli import cli_json
from tests.support.datasets import shared_dataset

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_coco_sample_is_ingested_and_searchable(settings: Settings) -> None:
    folder = shared_dataset("coco-mini-train")
    photos = sorted(p.name for p in folder.glob("*.jpg"))
    assert len(photos) == 80

    doc = cli_json("ingest", str(folder))

    assert doc["indexed"] == 80
    assert doc["failed"] == []
    others = sorted(p.name for p in folder.iterdir() if p.suffix != ".jpg")
    assert sorted(item["key"] for item in doc["skipped"]) == others
    assert doc["total"] == 80 + len(others)

    for name in (photos[0], photos[41], photos[-1]):
        hits = cli_json("search", "--like", str(folder / name))["results"]
        assert hits[0]["key"] == name
        assert hits[0]["score"] == pytest.approx(1.0, abs=1e-4)

    hits = cli_json("search", "a dog", "-k", "5")["results"]
    assert len(hits) == 5
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)

    again = cli_json("ingest", str(folder))
    assert (again["indexed"], again["unchanged"]) == (0, 80)
