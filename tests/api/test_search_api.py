"""The search routes: composed JSON and multipart queries, the shortcuts, and their OpenAPI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from pixseek.api.app import create_app
from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.search.query import Query, TextPart
from pixseek.search.service import SearchService
from tests.support.images import encode, pattern
from tests.support.synthetic_catalog import Spec, build, random_vectors


@pytest.fixture
def catalog(settings: Settings) -> tuple[list[int], np.ndarray]:
    vectors = random_vectors(24, seed=5)
    specs = [
        Spec(
            key=f"{('jpg', 'png')[i % 2]}/photo_{i:02d}.{('jpg', 'png')[i % 2]}",
            vector=v,
            format=("JPEG", "PNG")[i % 2],
        )
        for i, v in enumerate(vectors)
    ]
    specs[1].sha256 = specs[3].sha256 = "d" * 64  # two exact copies
    specs[3].vector = specs[1].vector
    vectors[3] = vectors[1]
    return build(settings, specs), vectors


@pytest.fixture
def client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings))


def test_composed_query_with_filters_pages_and_explain(
    client: TestClient, settings: Settings, catalog: tuple[list[int], np.ndarray]
) -> None:
    ids, vectors = catalog
    body = {
        "parts": [
            {"text": "beach", "weight": 1.0},
            {"image_id": ids[0], "weight": 0.5},
            {"text": "people", "weight": -0.3},
        ],
        "filters": {"formats": ["PNG"], "key_glob": "png/*"},
        "limit": 4,
        "explain": True,
    }
    first = client.post("/v1/search", json=body)
    second = client.post("/v1/search", json={**body, "offset": 4})
    assert first.status_code == 200, first.text
    page1, page2 = first.json(), second.json()
    assert page1["total"] == 12 and page1["mode"] == "semantic"
    keys = [r["key"] for r in page1["results"] + page2["results"]]
    assert len(set(keys)) == 8 and all(k.startswith("png/") for k in keys)
    service = SearchService(settings)
    beach = service.texts.embed(service.encoder, "beach", settings.prompt_templates)
    people = service.texts.embed(service.encoder, "people", settings.prompt_templates)
    q = beach + 0.5 * vectors[0] - 0.3 * people
    q /= np.linalg.norm(q)
    by_id = dict(zip(ids, vectors, strict=True))
    for hit in page1["results"]:
        assert hit["score"] == pytest.approx(float(by_id[hit["id"]] @ q), abs=1e-5)
        assert sum(p["contribution"] for p in hit["parts"]) == pytest.approx(hit["score"], abs=1e-5)
        assert [p["weight"] for p in hit["parts"]] == [1.0, 0.5, -0.3]


def test_multipart_query_with_an_uploaded_image(
    client: TestClient, catalog: tuple[list[int], np.ndarray]
) -> None:
    query = {"parts": [{"upload": 0}, {"text": "at night", "weight": 0.5}], "limit": 3, "explain": True}
    response = client.post(
        "/v1/search/multipart",
        data={"query": json.dumps(query)},
        files=[("images", ("mine.png", encode(pattern(4)), "image/png"))],
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == 3
    assert [p["label"] for p in results[0]["parts"]] == ["image:mine.png", "text:at night"]


@pytest.mark.parametrize(
    ("query", "files", "status", "error"),
    [
        ("not json", [], 422, "invalid_request"),
        (json.dumps({"parts": [{"text": "a", "image_id": 1}]}), [], 422, "invalid_request"),
        (
            json.dumps({"parts": [{"upload": 1}]}),
            [("images", ("a.png", b"x", "image/png"))],
            404,
            "upload_not_found",
        ),
        (
            json.dumps({"parts": [{"upload": 0}]}),
            [("images", ("a.png", b"not an image", "image/png"))],
            415,
            "unsupported_image",
        ),
    ],
)
def test_multipart_errors(
    client: TestClient,
    catalog: tuple[list[int], np.ndarray],
    query: str,
    files: list[tuple[str, tuple[str, bytes, str]]],
    status: int,
    error: str,
) -> None:
    response = client.post("/v1/search/multipart", data={"query": query}, files=files or None)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error


@pytest.mark.parametrize(
    "body",
    [
        {"parts": []},
        {"parts": [{"text": "a", "weight": 0}]},
        {"parts": [{"text": "a"}], "mode": "fuzzy"},
        {"parts": [{"text": "a"}], "filters": {"formats": ["PSD"]}},
        {"parts": [{"text": "a"}], "limit": 0},
    ],
)
def test_invalid_bodies_are_422(
    client: TestClient, catalog: tuple[list[int], np.ndarray], body: dict[str, object]
) -> None:
    response = client.post("/v1/search", json=body)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"


def test_upload_parts_need_the_multipart_route(
    client: TestClient, catalog: tuple[list[int], np.ndarray]
) -> None:
    response = client.post("/v1/search", json={"parts": [{"upload": 0}]})
    assert response.status_code == 422  # JSON parts are texts and image ids: no `upload` in its schema
    assert "multipart" in str(response.json()["detail"])


def test_hybrid_finds_a_file_by_name(client: TestClient, catalog: tuple[list[int], np.ndarray]) -> None:
    ids, _ = catalog
    response = client.post(
        "/v1/search", json={"parts": [{"text": "photo_17.png"}], "mode": "hybrid", "limit": 3}
    )
    first = response.json()["results"][0]
    assert first["id"] == ids[17] and first["exact_name"] is True and first["keyword_rank"] == 1


def test_similar_excludes_self_and_optionally_duplicates(
    client: TestClient, catalog: tuple[list[int], np.ndarray]
) -> None:
    ids, _ = catalog
    plain = client.get(f"/v1/images/{ids[1]}/similar", params={"k": 3}).json()
    assert plain["results"][0]["id"] == ids[3]
    assert ids[1] not in [r["id"] for r in plain["results"]]
    no_dups = client.get(f"/v1/images/{ids[1]}/similar", params={"k": 30, "exclude_duplicates": True}).json()
    assert {ids[1], ids[3]}.isdisjoint(r["id"] for r in no_dups["results"])
    assert no_dups["total"] == 22
    only_png = client.get(f"/v1/images/{ids[1]}/similar", params={"k": 30, "formats": ["PNG"]}).json()
    assert {r["key"][:4] for r in only_png["results"]} == {"png/"}
    assert client.get("/v1/images/9999/similar").status_code == 404


def test_shortcut_routes_still_answer(
    client: TestClient, settings: Settings, catalog: tuple[list[int], np.ndarray]
) -> None:
    text = client.post("/v1/search/text", json={"text": "beach", "k": 5, "offset": 5})
    assert text.status_code == 200 and len(text.json()["results"]) == 5
    with session_scope(settings) as session:
        page = SearchService(settings).search(session, Query(parts=(TextPart("beach"),), limit=10))
        expected = [h.id for h in page.hits][5:]
    assert [r["id"] for r in text.json()["results"]] == expected
    image = client.post(
        "/v1/search/image", files={"file": ("a.png", encode(pattern(1)), "image/png")}, data={"k": "2"}
    )
    assert image.status_code == 200 and len(image.json()["results"]) == 2


def test_openapi_describes_the_query_model(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert {"/v1/search", "/v1/search/multipart"} <= set(spec["paths"])
    request = schemas["SearchRequest"]
    assert request["examples"][0]["parts"][2] == {"text": "people", "weight": -0.3}
    assert "reciprocal rank" in request["properties"]["mode"]["description"]
    for name in ("text", "image_id", "weight"):
        assert schemas["QueryPartIn"]["properties"][name]["description"]
    assert schemas["UploadPartIn"]["properties"]["upload"]["description"]
    for name in ("key_glob", "captured_after", "min_size", "formats"):
        assert name in schemas["FiltersIn"]["properties"]
    assert schemas["PartScoreOut"]["properties"]["contribution"]["description"]
    similar = {p["name"] for p in spec["paths"]["/v1/images/{image_id}/similar"]["get"]["parameters"]}
    assert {"exclude_duplicates", "include_self", "captured_before", "offset"} <= similar
