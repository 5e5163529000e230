"""Things at the edges of wide pictures are found: region search covers the whole picture.

Generated 4:3, 16:9 and 3:1 scenes with the named thing at the left edge, the right edge or
in the centre, ingested with the default coverage (tiles) and the tiny model; the thing's
name is asked for through the heatmap endpoint. Before issue 17 (centre crop) the edge
things were found about 3 times in 10 (docs/regions.md, `python -m bench.regions.coverage`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from pixseek.api.app import create_app
from pixseek.cli import main
from pixseek.core.db import dispose_engines, session_scope
from pixseek.core.settings import get_settings
from pixseek.demo.scenes import render_wide
from pixseek.demo.wide import HEIGHT, WideScene, wide_scenes
from pixseek.evaluation.metrics import inside
from pixseek.index.catalog.images import Image
from tests.support.meaning import MEANING_ENV

log = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, WideScene]]:
    folder = tmp_path_factory.mktemp("wide") / "scenes"
    folder.mkdir()
    by_key = {}
    for i, scene in enumerate(wide_scenes(3, seed=11, sizes=("normal",))):
        key = f"{scene.position}-{i:03d}.png"
        render_wide(scene.layout, scene.width, HEIGHT).save(folder / key)
        by_key[key] = scene
    return folder, by_key


@pytest.fixture
def client(
    scenes: tuple[Path, dict[str, WideScene]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    for name, value in MEANING_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PIXSEEK_DATA_DIR", str(tmp_path / "data"))
    # ClearCLIP, the default for pretrained CLIPs, which this test stands in for. With this
    # model's own default (MaskCLIP) edges score 0.89 against 1.00 at the centre at one tile
    # and meet the bar at two (docs/regions.md): a known gap, not checked here.
    monkeypatch.setenv("PIXSEEK_PATCH_MODE", "clearclip")
    for name in (
        "PIXSEEK_DATABASE_URL",
        "PIXSEEK_BROKER_URL",
        "PIXSEEK_REGION_COVERAGE",
        "PIXSEEK_REGION_TILES",
    ):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    result = CliRunner().invoke(main, ["ingest", str(scenes[0]), "--json"], catch_exceptions=False)
    assert result.exit_code == 0 and json.loads(result.stdout)["indexed"] == len(scenes[1]), result.output
    with TestClient(create_app(get_settings()), raise_server_exceptions=False) as test_client:
        yield test_client
    get_settings.cache_clear()
    dispose_engines()


def test_things_at_the_edges_are_found_as_well_as_in_the_centre(
    scenes: tuple[Path, dict[str, WideScene]], client: TestClient
) -> None:
    _, by_key = scenes
    with session_scope(get_settings()) as session:
        ids = {key: int(i) for i, key in session.execute(select(Image.id, Image.key))}
    found: dict[str, list[bool]] = {"edge": [], "centre": []}
    for key, scene in by_key.items():
        thing = scene.target
        response = client.get(
            f"/v1/images/{ids[key]}/heatmap", params={"text": f"a {thing.name}", "format": "json"}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["crop"] == [0, 0, scene.width, HEIGHT]  # no part of the picture without patches
        (gh, gw), (row, col) = body["grid"], body["cell"]
        peak = ((col + 0.5) * scene.width / gw, (row + 0.5) * HEIGHT / gh)
        found["centre" if scene.position == "centre" else "edge"].append(inside(peak, scene.box(thing)))
    edge, centre = (sum(v) / len(v) for v in (found["edge"], found["centre"]))
    log.info("meaning.wide_regions edge=%.3f centre=%.3f over %d scenes", edge, centre, len(by_key))
    # Measured over 108 such scenes: edge 0.86, centre 0.72 (docs/regions.md).
    assert edge >= 0.7, f"pointing at edge things {edge:.3f}"
    assert edge >= centre - 0.05, f"edge {edge:.3f} vs centre {centre:.3f}"
