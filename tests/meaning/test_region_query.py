"""A box drawn around a thing finds other scenes with that thing, and boxes it there.

Through `POST /v1/search/regions` with a `region` query (the box's vector comes from the
stored patches). The scenes are made for the question: four show a red circle beside
another thing, the others show red things that are not circles and circles that are not
red. Patches are made in `maskclip` mode, the mode that localises best with this model
(docs/regions.md: with `clearclip`, box queries find their thing about half as often).
Figures over the whole held-out library, and the comparison with cropping the box and
re-embedding it: docs/regions.md (`python -m bench.regions.region_query`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from pixseek.api.app import create_app
from pixseek.cli import main
from pixseek.core.db import dispose_engines
from pixseek.core.settings import Settings, get_settings
from pixseek.demo.scenes import SceneFile, random_layout, write_scenes
from pixseek.evaluation.metrics import inside
from tests.support.meaning import MEANING_ENV

SIZE = 160
TARGET = ("red", "circle")
WITH_TARGET = [("blue", "square"), ("white", "star"), ("green", "triangle"), ("yellow", "cross")]
DECOYS = [
    [("red", "square")],
    [("red", "triangle"), ("white", "cross")],
    [("blue", "circle")],
    [("yellow", "circle"), ("green", "star")],
    [("white", "circle")],
    [("red", "star"), ("purple", "square")],
    [("purple", "circle")],
    [("green", "cross"), ("blue", "triangle")],
]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[SceneFile]]:
    rng = np.random.default_rng(7)
    layouts = [random_layout(rng, kinds=[TARGET])]  # the scene the box is drawn on
    layouts += [random_layout(rng, kinds=[TARGET, other]) for other in WITH_TARGET]
    layouts += [random_layout(rng, kinds=kinds) for kinds in DECOYS]
    folder = tmp_path_factory.mktemp("region-query") / "scenes"
    return folder, write_scenes(folder, layouts, size=SIZE)


@pytest.fixture
def client(
    scenes: tuple[Path, list[SceneFile]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    for name, value in {**MEANING_ENV, "PIXSEEK_PATCH_MODE": "maskclip"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PIXSEEK_DATA_DIR", str(tmp_path / "data"))
    for name in ("PIXSEEK_DATABASE_URL", "PIXSEEK_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    result = CliRunner().invoke(main, ["ingest", str(scenes[0]), "--json"], catch_exceptions=False)
    assert result.exit_code == 0 and json.loads(result.stdout)["indexed"] == len(scenes[1]), result.output
    settings: Settings = get_settings()
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client
    get_settings.cache_clear()
    dispose_engines()


def test_a_box_around_a_red_circle_finds_the_other_red_circles_and_boxes_them(
    scenes: tuple[Path, list[SceneFile]], client: TestClient
) -> None:
    _, files = scenes
    query, by_key = files[0], {s.key: s for s in files}
    ids = {
        hit["key"]: hit["id"]
        for hit in client.post("/v1/search/regions", json={"text": "a shape", "k": 50}).json()["results"]
    }
    box = query.layout.things[0].pixel_box(SIZE, SIZE)
    body = {"region": {"image_id": ids[query.key], "box": list(box)}, "k": 6}
    response = client.post("/v1/search/regions", json=body)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    with_target = {s.key for s in files[1 : 1 + len(WITH_TARGET)]}
    ranked = [hit["key"] for hit in results]
    assert query.key not in ranked  # the image the box is drawn on is left out
    assert set(ranked[: len(with_target)]) == with_target, [by_key[k].caption for k in ranked]
    for hit in results[: len(with_target)]:
        circle = next(t for t in by_key[hit["key"]].layout.things if (t.colour, t.shape) == TARGET)
        x0, y0, x1, y1 = hit["box"]
        assert inside(((x0 + x1) / 2, (y0 + y1) / 2), circle.pixel_box(SIZE, SIZE)), (hit, circle)
