"""Requests built to cost the server: each bounded by a setting and refused with a 4xx."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.support.api import assert_error


def test_a_flood_of_prompt_templates_is_refused(client: TestClient, indexed: Path) -> None:
    body = {"parts": [{"text": "dog"}], "templates": [f"{{}} number {i}" for i in range(500)]}
    detail = assert_error(client.post("/v1/search", json=body), 400, "invalid_request")["detail"]
    assert "at most 16 prompt templates" in str(detail)


def test_an_overlong_template_is_refused(client: TestClient, indexed: Path) -> None:
    body = {"parts": [{"text": "dog"}], "templates": ["a photo of {}" + "!" * 500]}
    assert_error(client.post("/v1/search", json=body), 400, "invalid_request")


def test_too_many_parts_are_refused(client: TestClient, indexed: Path) -> None:
    body = {"parts": [{"text": f"word {i}"} for i in range(17)]}
    detail = assert_error(client.post("/v1/search", json=body), 400, "invalid_request")["detail"]
    assert "at most 16 parts" in str(detail)


def test_overlong_texts_are_refused_on_every_text_route(client: TestClient, indexed: Path) -> None:
    text = "dog " * 600
    for response in (
        client.post("/v1/search/text", json={"text": text}),
        client.post("/v1/search", json={"parts": [{"text": text}]}),
        client.post("/v1/search/regions", json={"text": text}),
    ):
        assert_error(response, 400, "invalid_request")


def test_offsets_past_the_maximum_are_refused(client: TestClient, indexed: Path) -> None:
    body = {"parts": [{"text": "dog"}], "offset": 10_001}
    assert_error(client.post("/v1/search", json=body), 400, "invalid_request")


def test_numbers_sql_cannot_hold_are_a_4xx_not_a_500(client: TestClient, indexed: Path) -> None:
    # Found by the fuzzer: SQLite raises OverflowError on integers past 64 bits.
    huge = 2**64
    assert_error(client.get(f"/v1/duplicates/groups/{huge}"), 404, "group_not_found")
    assert_error(client.get(f"/v1/images/{huge}"), 404, "image_not_found")
    assert_error(client.get("/v1/duplicates/groups", params={"offset": huge}), 422, "invalid_request")
    # Past 2**53 - 1 a JSON number is not exact: the schemas stop there (422).
    body = {"parts": [{"text": "dog"}], "filters": {"min_size": huge}}
    assert_error(client.post("/v1/search", json=body), 422, "invalid_request")
    body = {"parts": [{"image_id": huge}]}
    assert_error(client.post("/v1/search", json=body), 422, "invalid_request")
