"""Tags at ingest, again when the vocabulary changes (never re-embedding), as filters and facets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pixseek.api.app import create_app
from pixseek.cli import main
from pixseek.core.db import session_scope
from pixseek.core.errors import InvalidRequest
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image
from pixseek.index.catalog.jobs import Job, JobStatus
from pixseek.index.catalog.tags import ImageTag, ImageTagState, replace_tags
from pixseek.ingest.run import run_ingest
from pixseek.ingest.tagging import tag_catalog
from pixseek.model.encoder import Encoder
from pixseek.search.filters import Filters
from pixseek.search.query import Mode, Query, TextPart
from pixseek.search.service import SearchService
from tests.support.images import write_image


def _state_count(settings: Settings) -> int:
    with session_scope(settings) as session:
        return int(session.scalar(select(func.count()).select_from(ImageTagState)) or 0)


def _ids_by_key(settings: Settings) -> dict[str, int]:
    with session_scope(settings) as session:
        return {key: i for i, key in session.execute(select(Image.id, Image.key))}


def test_ingest_tags_new_images_and_a_new_vocabulary_rescores_without_embedding(
    settings: Settings, bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_ingest(settings, str(bucket))
    assert _state_count(settings) == 6
    assert tag_catalog(settings).scored == 0  # nothing stale: nothing scored twice

    def no_image_embedding(*args: object, **kwargs: object) -> None:
        raise AssertionError("tagging must not embed an image")

    monkeypatch.setattr(Encoder, "encode_pixels", no_image_embedding)
    vocabulary = {"include_defaults": False, "categories": [{"name": "a"}, {"name": "b"}], "threshold": 0.01}
    settings.tag_vocabulary_file.write_text(json.dumps(vocabulary))
    run = tag_catalog(settings)
    assert run.scored == 6 and run.tagged == 6  # two categories at 0.01: every image carries one
    with session_scope(settings) as session:
        tags = {t for (t,) in session.execute(select(ImageTag.tag).distinct())}
        scores = [s for (s,) in session.execute(select(ImageTag.score))]
    assert tags <= {"a", "b"} and all(0.01 <= s <= 1.0 for s in scores)


def test_a_broken_vocabulary_file_leaves_images_untagged_but_the_ingest_done(
    settings: Settings, bucket: Path
) -> None:
    settings.tag_vocabulary_file.write_text("{not json")
    job_id = run_ingest(settings, str(bucket))
    with session_scope(settings) as session:
        assert session.get(Job, job_id).status == JobStatus.DONE  # type: ignore[union-attr]
    assert _state_count(settings) == 0
    settings.tag_vocabulary_file.unlink()
    assert tag_catalog(settings).scored == 6  # fixed: the next run tags them


def test_the_index_writer_waits_for_prompts_it_would_have_to_embed(settings: Settings, bucket: Path) -> None:
    run_ingest(settings, str(bucket))
    settings.tag_vocabulary_file.write_text(json.dumps({"categories": [{"name": "sailing"}]}))
    waiting = tag_catalog(settings, embed_prompts=False)  # what finalize_job runs: no model
    assert waiting.waiting and waiting.scored == 0
    assert tag_catalog(settings).scored == 6  # `pixseek tags apply`, or the next ingest's batches


def test_a_changed_file_is_tagged_again(settings: Settings, bucket: Path) -> None:
    run_ingest(settings, str(bucket))
    write_image(bucket / "img000.png", 99)  # new bytes under an old key: a new vector
    run_ingest(settings, str(bucket))
    with session_scope(settings) as session:
        rows = session.execute(
            select(ImageTagState.sha256, Image.sha256).join(Image, Image.id == ImageTagState.image_id)
        ).all()
    assert len(rows) == 6 and all(a == b for a, b in rows)


@pytest.fixture
def tagged(settings: Settings, bucket: Path) -> dict[str, int]:
    """The six images ingested, with known tags: img000-2 beach, img001 also people, img004 dog."""
    settings.tags.enabled = False
    run_ingest(settings, str(bucket))
    ids = _ids_by_key(settings)
    known = [("img000.png", "beach"), ("img001.png", "beach"), ("img002.png", "beach")]
    known += [("img001.png", "people"), ("img004.png", "dog")]
    with session_scope(settings) as session:
        replace_tags(
            session,
            "test",
            [(i, "sha") for i in ids.values()],
            [(ids[key], tag, 0.5, 0.3) for key, tag in known],
        )
    return ids


def _search(settings: Settings, filters: Filters, mode: Mode = Mode.SEMANTIC, text: str = "img") -> Query:
    return Query(parts=(TextPart(text),), filters=filters, mode=mode, limit=20, facets=True)


def test_tag_filters_are_exact_and_facets_count_the_result_set(
    settings: Settings, tagged: dict[str, int]
) -> None:
    service = SearchService(settings)
    with session_scope(settings) as session:

        def keys_and_facets(filters: Filters, mode: Mode = Mode.SEMANTIC) -> tuple[set[str], dict[str, int]]:
            page = service.search(session, _search(settings, filters, mode))
            assert page.facets is not None
            return {hit.key for hit in page.hits}, page.facets["tags"]

        keys, facets = keys_and_facets(Filters(tags=("beach",)))
        assert keys == {"img000.png", "img001.png", "img002.png"}
        assert facets == {"beach": 3, "people": 1}
        keys, facets = keys_and_facets(Filters(tags=("beach", "people")))
        assert keys == {"img001.png"} and facets == {"beach": 1, "people": 1}
        keys, facets = keys_and_facets(Filters(no_tags=("beach",)))
        assert keys == {"img003.png", "img004.png", "img005.png"} and facets == {"dog": 1}
        keys, facets = keys_and_facets(Filters(tags=("beach",), no_tags=("people",)), Mode.KEYWORD)
        assert keys == {"img000.png", "img002.png"} and facets == {"beach": 2}
        keys, facets = keys_and_facets(Filters(), Mode.HYBRID)
        assert len(keys) == 6 and facets == {"beach": 3, "dog": 1, "people": 1}  # most first, then by name
        assert list(facets) == ["beach", "dog", "people"]
        contradiction = service.search(session, _search(settings, Filters(tags=("dog",), no_tags=("dog",))))
        assert contradiction.hits == []  # required and excluded: matches nothing
        with pytest.raises(InvalidRequest, match="tag name"):
            service.search(session, _search(settings, Filters(tags=("Dog; drop",))))


def test_facets_are_bounded(settings: Settings, tagged: dict[str, int]) -> None:
    settings.tags.facet_limit = 1
    with session_scope(settings) as session:
        page = SearchService(settings).search(session, _search(settings, Filters()))
    assert page.facets == {
        "tags": {"beach": 3},
        "cameras": {},
        "lenses": {},
        "countries": {},
        "cities": {},
    }  # no EXIF here


def test_api_filters_by_tag_and_returns_facets(settings: Settings, tagged: dict[str, int]) -> None:
    with TestClient(create_app(settings)) as client:
        filters = {"tags": ["beach"], "no_tags": ["people"]}
        body = {"parts": [{"text": "img"}], "filters": filters, "facets": True}
        response = client.post("/v1/search", json=body)
        assert response.status_code == 200, response.text
        document = response.json()
        assert {r["key"] for r in document["results"]} == {"img000.png", "img002.png"}
        assert document["facets"] == {
            "tags": {"beach": 2},
            "cameras": {},
            "lenses": {},
            "countries": {},
            "cities": {},
        }
        refused = client.post("/v1/search", json={**body, "filters": {"tags": ["Not a tag!"]}})
        assert refused.status_code == 422 and refused.json()["error"] == "invalid_request"  # by its schema
        similar = client.get(f"/v1/images/{tagged['img003.png']}/similar", params={"tags": ["beach"]})
        assert {r["key"] for r in similar.json()["results"]} == {"img000.png", "img001.png", "img002.png"}
        info = client.get(f"/v1/images/{tagged['img001.png']}").json()
        assert info["tags"] == {"beach": 0.5, "people": 0.5}
        listing = client.get("/v1/tags").json()
        counts = {t["name"]: t["images"] for t in listing["tags"]}
        assert counts["beach"] == 3 and counts["dog"] == 1 and listing["images"] == 6


def test_cli_tags_edit_list_and_search(settings: Settings, tagged: dict[str, int]) -> None:
    runner = CliRunner()

    def run(*args: str) -> dict[str, object]:
        result = runner.invoke(main, [*args, "--json"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    run("tags", "add", "sailing", "--prompt", "a sailing boat", "--threshold", "0.2")
    run("tags", "threshold", "beach", "0.3")
    run("tags", "remove", "dog")
    listing = run("tags", "list")
    tags = {t["name"]: t for t in listing["tags"]}  # type: ignore[attr-defined]
    assert tags["sailing"]["prompts"] == ["a sailing boat"] and tags["sailing"]["threshold"] == 0.2
    assert tags["beach"]["threshold"] == 0.3 and tags["beach"]["images"] == 3 and "dog" not in tags
    page = run("search", "img", "--tag", "beach", "--no-tag", "people", "--facets")
    assert {r["key"] for r in page["results"]} == {"img000.png", "img002.png"}  # type: ignore[attr-defined]
    assert page["facets"] == {
        "tags": {"beach": 2},
        "cameras": {},
        "lenses": {},
        "countries": {},
        "cities": {},
    }
    bad = runner.invoke(main, ["tags", "threshold", "nothing", "0.3"])
    assert bad.exit_code == 2 and "no tag category" in bad.output


def test_cli_preview_and_apply(settings: Settings, bucket: Path) -> None:
    run_ingest(settings, str(bucket))
    settings.tag_vocabulary_file.write_text(
        json.dumps(
            {"include_defaults": False, "categories": [{"name": "a"}, {"name": "b"}], "threshold": 0.5}
        )
    )
    runner = CliRunner()
    preview = json.loads(runner.invoke(main, ["tags", "preview", "a", "-k", "3", "--json"]).stdout)
    assert preview["images"] == 6 and len(preview["results"]) == 3
    scores = [r["score"] for r in preview["results"]]
    assert scores == sorted(scores, reverse=True)
    assert preview["caught"] == sum(r["tagged"] for r in preview["results"]) or preview["caught"] > 3
    applied = json.loads(runner.invoke(main, ["tags", "apply", "--json"]).stdout)
    assert applied["scored"] == 6
    assert json.loads(runner.invoke(main, ["tags", "apply", "--json"]).stdout)["scored"] == 0
