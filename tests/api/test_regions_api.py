"""Region routes and `pixseek search --regions`: shapes, PNG validity, and 4xx answers."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from PIL import Image

from pixseek.api.app import create_app
from pixseek.cli import main
from pixseek.core.settings import Settings
from pixseek.ingest.run import run_ingest
from tests.support.images import encode, pattern


@pytest.fixture
def client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings))


@pytest.fixture
def ingested(settings: Settings, bucket: Path) -> Path:
    run_ingest(settings, str(bucket))
    return bucket


def test_region_search_before_any_ingest_is_409(client: TestClient) -> None:
    r = client.post("/v1/search/regions", json={"text": "a dog"})
    assert r.status_code == 409
    assert r.json()["error"] == "index_not_ready"


def test_region_search_returns_boxes_inside_the_images(client: TestClient, ingested: Path) -> None:
    r = client.post(
        "/v1/search/regions", json={"text": "a red umbrella", "k": 3, "smooth": 1, "cls_weight": 0.3}
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == 3
    for hit in results:
        x0, y0, x1, y1 = hit["box"]
        # bucket images are 96x64, covered by 4 x 6 cells of 16 px
        assert 0 <= x0 < x1 <= 96 and 0 <= y0 < y1 <= 64
        assert x0 % 16 == 0 and x1 % 16 == 0 and y0 % 16 == 0 and y1 % 16 == 0
        assert hit["score"] == pytest.approx(0.7 * hit["region_score"] + 0.3 * hit["cls_score"], abs=1e-5)
    assert [h["score"] for h in results] == sorted((h["score"] for h in results), reverse=True)


def test_region_search_by_uploaded_crop(client: TestClient, ingested: Path) -> None:
    crop = pattern(3).crop((16, 0, 48, 32))
    r = client.post(
        "/v1/search/regions/image", files={"file": ("crop.png", encode(crop), "image/png")}, data={"k": "2"}
    )
    assert r.status_code == 200, r.text
    assert len(r.json()["results"]) == 2


@pytest.mark.parametrize(
    "body",
    [{"text": ""}, {"text": "x", "k": 0}, {"text": "x", "smooth": 9}, {"text": "x", "cls_weight": 2}, {}],
)
def test_bad_region_requests_are_422(client: TestClient, body: dict[str, object]) -> None:
    r = client.post("/v1/search/regions", json=body)
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_request"


def test_heatmap_is_a_png_the_size_of_the_image(client: TestClient, ingested: Path) -> None:
    r = client.get("/v1/images/1/heatmap", params={"text": "a dog"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(r.content))
    img.verify()  # raises on a corrupt PNG
    assert Image.open(io.BytesIO(r.content)).size == (96, 64)


def test_heatmap_json_is_the_score_grid(client: TestClient, ingested: Path) -> None:
    r = client.get("/v1/images/2/heatmap", params={"text": "a dog", "format": "json"})
    assert r.status_code == 200
    body = r.json()
    # 96x64 with patches over the whole picture: 4 x 6 cells of 16 px, no part left out.
    assert (
        body["grid"] == [4, 6] and len(body["scores"]) == 4 and all(len(row) == 6 for row in body["scores"])
    )
    assert (body["width"], body["height"], body["crop"]) == (96, 64, [0, 0, 96, 64])
    row, col = body["cell"]
    assert body["region_score"] == pytest.approx(max(max(line) for line in body["scores"]), abs=1e-5)
    assert body["scores"][row][col] == pytest.approx(body["region_score"], abs=1e-5)


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/v1/images/999/heatmap", {"text": "a dog"}, 404),
        ("/v1/images/1/heatmap", {}, 422),
        ("/v1/images/1/heatmap", {"text": "a dog", "format": "gif"}, 422),
        ("/v1/images/1/heatmap", {"text": "   "}, 400),
    ],
)
def test_bad_heatmap_requests(
    client: TestClient, ingested: Path, path: str, params: dict[str, str], status: int
) -> None:
    assert client.get(path, params=params).status_code == status


def test_heatmap_of_a_file_changed_on_disk_is_404(client: TestClient, ingested: Path) -> None:
    (ingested / "img000.png").write_bytes(encode(pattern(0, (50, 50))))
    assert client.get("/v1/images/1/heatmap", params={"text": "a dog"}).status_code == 404


def test_cli_regions_json(settings: Settings, ingested: Path) -> None:
    result = CliRunner().invoke(main, ["search", "a red umbrella", "--regions", "--json", "-k", "2"])
    assert result.exit_code == 0, result.output
    results = json.loads(result.output)["results"]
    assert len(results) == 2
    assert all(len(hit["box"]) == 4 and "region_score" in hit for hit in results)
    plain = CliRunner().invoke(main, ["search", "a red umbrella", "--regions", "-k", "1"])
    assert plain.exit_code == 0 and "box [" in plain.output
    by_id = CliRunner().invoke(main, ["search", "--like-id", "1", "--regions"])
    # Any composed query works: its combined vector is matched against the patches.
    assert by_id.exit_code == 0 and "box [" in by_id.output


def test_region_search_filters_inside_the_index(client: TestClient, ingested: Path) -> None:
    r = client.post("/v1/search/regions", json={"text": "a dog", "k": 5, "key_prefix": "img004"})
    assert [h["key"] for h in r.json()["results"]] == ["img004.png"]
    r = client.post("/v1/search/regions", json={"text": "a dog", "bucket": "no-such-bucket"})
    assert r.status_code == 200 and r.json()["results"] == []


def test_region_as_query_ranks_other_images_with_boxes(client: TestClient, ingested: Path) -> None:
    body = {"region": {"image_id": 3, "box": [48, 16, 64, 32]}, "k": 10, "smooth": 1}
    r = client.post("/v1/search/regions", json=body)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == 5 and 3 not in {h["id"] for h in results}
    for hit in results:
        x0, y0, x1, y1 = hit["box"]
        assert 0 <= x0 < x1 <= 96 and 0 <= y0 < y1 <= 64
    # Unsmoothed, the image itself matches its own region best (cosine 1 on that cell).
    r = client.post("/v1/search/regions", json={**body, "smooth": 0, "include_query_image": True})
    assert r.json()["results"][0]["id"] == 3


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"text": "a dog", "region": {"image_id": 1, "box": [16, 0, 80, 64]}}, 422, "invalid_request"),
        ({"region": {"image_id": 1, "box": [16, 0, 80]}}, 422, "invalid_request"),
        ({"region": {"image_id": 1, "box": [40, 10, 20, 30]}}, 422, "invalid_region"),
        ({"region": {"image_id": 1, "box": [16, 0, 200, 64]}}, 422, "invalid_region"),
        ({"region": {"image_id": 1, "box": [20, 20, 24, 24]}}, 422, "invalid_region"),  # under half a cell
        ({"region": {"image_id": 999, "box": [16, 0, 80, 64]}}, 404, "image_not_found"),
    ],
)
def test_bad_region_queries_are_4xx_with_a_reason(
    client: TestClient, ingested: Path, body: dict[str, object], status: int, error: str
) -> None:
    r = client.post("/v1/search/regions", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error


def test_region_part_in_a_composed_search(client: TestClient, ingested: Path) -> None:
    part = {"image_id": 3, "box": [48, 16, 64, 32], "weight": 1}
    r = client.post("/v1/search", json={"parts": [part], "limit": 10, "explain": True})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == 5 and 3 not in {h["id"] for h in results}
    assert results[0]["parts"][0]["label"] == "region:3[48,16,64,32]"
    r = client.post("/v1/search", json={"parts": [{"text": "a dog", "box": [0, 0, 9, 9]}]})
    assert r.status_code == 422  # a box goes with an image id
    r = client.post("/v1/search", json={"parts": [{"image_id": 3, "box": [0, 0, 5, 5]}]})
    assert r.status_code == 422 and r.json()["error"] == "invalid_region"


def test_cli_region_of_an_image_as_query(settings: Settings, ingested: Path) -> None:
    args = ["search", "--regions", "--like-id", "3", "--box", "48,16,64,32", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    results = json.loads(result.output)["results"]
    assert len(results) == 5 and 3 not in {h["id"] for h in results}
    kept = CliRunner().invoke(main, [*args, "--include-self"])
    assert json.loads(kept.output)["results"][0]["id"] == 3
    bad = CliRunner().invoke(main, ["search", "--regions", "--like-id", "3", "--box", "0,0,9"])
    assert bad.exit_code != 0 and "four numbers" in bad.output
    outside = CliRunner().invoke(main, ["search", "--regions", "--like-id", "3", "--box", "0,0,97,64"])
    assert outside.exit_code != 0 and "goes outside image 3" in outside.output
