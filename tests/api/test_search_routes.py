"""Search over HTTP: text, uploaded image, similar-to-id, and every malformed request."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pixseek.core.settings import Settings
from tests.support.api import assert_error
from tests.support.images import encode, pattern
from tests.support.ingested import catalog


def test_health(client: TestClient) -> None:
    response = client.get("/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "random_weights": True}


def test_status_reports_counts_and_index(client: TestClient, indexed: Path, settings: Settings) -> None:
    body = client.get("/v1/status").json()
    assert body["images"] == {"indexed": 6}
    assert body["buckets"] == [str(indexed.resolve())]
    assert body["index"]["count"] == 6 and body["index"]["model"] == "pixseek-tiny"
    assert body["data_dir"] == str(settings.data_dir)


def test_openapi_schema_is_served(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/search/text", "/v1/search/image", "/v1/jobs", "/v1/images/{image_id}/file"} <= set(paths)


def test_text_search_returns_k_sorted_results(client: TestClient, indexed: Path) -> None:
    response = client.post("/v1/search/text", json={"text": "a red square", "k": 4})
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 4
    assert all({"id", "bucket", "key", "score"} <= set(r) for r in results)
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)


def test_text_search_with_filters(client: TestClient, indexed: Path) -> None:
    body = {"text": "x", "k": 10, "key_prefix": "img00", "bucket": str(indexed.resolve())}
    keys = [r["key"] for r in client.post("/v1/search/text", json=body).json()["results"]]
    assert sorted(keys) == [f"img00{i}.png" for i in range(6)]
    body["key_prefix"] = "nothing"
    assert client.post("/v1/search/text", json=body).json()["results"] == []


def test_text_search_errors(client: TestClient, indexed: Path) -> None:
    assert_error(client.post("/v1/search/text", json={"text": "   "}), 400, "invalid_request")
    assert_error(client.post("/v1/search/text", json={"text": ""}), 422, "invalid_request")
    assert_error(client.post("/v1/search/text", json={"text": "x", "k": 0}), 422)
    assert_error(client.post("/v1/search/text", json={"text": "x", "min_score": 2}), 422)
    assert_error(client.post("/v1/search/text", json={}), 422)
    assert_error(
        client.post("/v1/search/text", content=b"{not json", headers={"content-type": "application/json"}),
        422,
    )


def test_result_counts_above_the_configured_maximum_are_refused(client: TestClient, indexed: Path) -> None:
    # One limit, PIXSEEK_MAX_RESULTS (1000 by default), for every route that takes k or limit.
    for response in (
        client.post("/v1/search/text", json={"text": "x", "k": 1001}),
        client.post("/v1/search", json={"parts": [{"text": "x"}], "limit": 1001}),
        client.get("/v1/images/1/similar", params={"k": 1001}),
    ):
        body = assert_error(response, 400, "invalid_request")
        assert "1000" in body["detail"]


def test_search_before_any_ingest_is_409_index_not_ready(client: TestClient) -> None:
    assert_error(client.post("/v1/search/text", json={"text": "a dog"}), 409, "index_not_ready")
    upload = {"file": ("a.png", encode(pattern(1), "PNG"), "image/png")}
    assert_error(client.post("/v1/search/image", files=upload), 409, "index_not_ready")


def test_image_upload_finds_itself_first(client: TestClient, indexed: Path) -> None:
    data = (indexed / "img002.png").read_bytes()
    response = client.post("/v1/search/image", files={"file": ("q.png", data, "image/png")}, data={"k": "3"})
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 3
    assert results[0]["key"] == "img002.png"
    assert results[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)


def test_image_upload_ignores_the_declared_type_and_name(client: TestClient, indexed: Path) -> None:
    data = (indexed / "img004.png").read_bytes()
    upload = {"file": ("photo.jpg", data, "application/octet-stream")}
    assert client.post("/v1/search/image", files=upload).json()["results"][0]["key"] == "img004.png"


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_phone_formats_can_be_uploaded_as_queries(client: TestClient, indexed: Path, fmt: str) -> None:
    with Image.open(indexed / "img004.png") as original:
        data = encode(original.convert("RGB"), fmt, quality=95)
    upload = {"file": ("IMG_0001.HEIC", data, "image/heic")}
    assert client.post("/v1/search/image", files=upload).json()["results"][0]["key"] == "img004.png"


def test_garbage_upload_is_415(client: TestClient, indexed: Path) -> None:
    for payload in (b"definitely not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50):
        body = assert_error(
            client.post("/v1/search/image", files={"file": ("x.png", payload, "image/png")}), 415
        )
        assert body["error"] == "unsupported_image"


def test_truncated_and_bomb_uploads_are_415(client: TestClient, indexed: Path) -> None:
    from tests.support.images import iso_bomb, png_bomb, truncated, truncated_jpeg

    strip = encode(Image.new("L", (1, 100_000)), "PNG")
    heif_and_avif = [maker(fmt) for fmt in ("HEIF", "AVIF") for maker in (truncated, iso_bomb)]
    for payload in (truncated_jpeg(), png_bomb(), strip, *heif_and_avif):
        assert_error(client.post("/v1/search/image", files={"file": ("x", payload, "image/png")}), 415)


def test_empty_upload_is_415(client: TestClient, indexed: Path) -> None:
    body = assert_error(client.post("/v1/search/image", files={"file": ("x.png", b"", "image/png")}), 415)
    assert "empty" in str(body["detail"])


def test_missing_file_field_is_422(client: TestClient, indexed: Path) -> None:
    body = assert_error(client.post("/v1/search/image", data={"k": "3"}), 422, "invalid_request")
    assert body["detail"] == [{"loc": ["body", "file"], "msg": "Field required"}]
    assert_error(client.post("/v1/search/image", files={"other": ("x.png", b"abc", "image/png")}), 422)


def test_upload_over_the_limit_is_413(settings: Settings, indexed: Path) -> None:
    from pixseek.api.app import create_app

    small = settings.model_copy(update={"max_upload_bytes": 1000})
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noise, "RGB"), "PNG")
    assert 1000 < len(data) < 60_000  # passes the early Content-Length check, caught while reading
    big = data + b"\0" * 200_000  # refused from its Content-Length alone
    with TestClient(create_app(small), raise_server_exceptions=False) as client:
        for payload in (data, big):
            response = client.post("/v1/search/image", files={"file": ("x.png", payload, "image/png")})
            assert_error(response, 413, "payload_too_large")


def test_invalid_form_values_are_422(client: TestClient, indexed: Path) -> None:
    upload = {"file": ("q.png", (indexed / "img000.png").read_bytes(), "image/png")}
    assert_error(client.post("/v1/search/image", files=upload, data={"k": "0"}), 422)
    assert_error(client.post("/v1/search/image", files=upload, data={"k": "many"}), 422)


def test_similar_excludes_the_image_itself(client: TestClient, indexed: Path, settings: Settings) -> None:
    image_id = catalog(settings)["img001.png"].id
    results = client.get(f"/v1/images/{image_id}/similar", params={"k": 3}).json()["results"]
    assert len(results) == 3
    assert image_id not in {r["id"] for r in results}
    with_self = client.get(f"/v1/images/{image_id}/similar", params={"k": 3, "include_self": True}).json()
    assert with_self["results"][0]["id"] == image_id


def test_similar_errors(client: TestClient, indexed: Path, settings: Settings) -> None:
    image_id = catalog(settings)["img001.png"].id
    assert_error(client.get("/v1/images/424242/similar"), 404, "image_not_found")
    assert_error(client.get(f"/v1/images/{image_id}/similar", params={"k": 0}), 422)
    assert_error(client.get(f"/v1/images/{image_id}/similar", params={"min_score": "abc"}), 422)
    assert_error(client.get("/v1/images/abc/similar"), 422)


def test_unknown_routes_and_methods_are_json_errors(client: TestClient) -> None:
    assert_error(client.get("/v1/nope"), 404, "not_found")
    assert_error(client.delete("/v1/health"), 405, "method_not_allowed")


def test_index_of_another_model_is_409_with_a_reindex_hint(settings: Settings, indexed: Path) -> None:
    from pixseek.api.app import create_app

    other = settings.model_copy(update={"pretrained": "laion2b_s34b_b79k"})
    with TestClient(create_app(other), raise_server_exceptions=False) as client:
        body = assert_error(client.post("/v1/search/text", json={"text": "x"}), 409, "model_mismatch")
        assert "re-index" in str(body["detail"])
