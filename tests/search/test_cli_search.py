"""`pixseek search` on the command line: parts with weights, filters, modes, pages, explain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pixseek.cli import main
from pixseek.cli.search import split_weight
from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.search.query import ImageIdPart, Query, TextPart
from pixseek.search.service import SearchService
from tests.support.images import write_image
from tests.support.synthetic_catalog import Spec, build, random_vectors


@pytest.fixture
def ids(settings: Settings) -> list[int]:
    vectors = random_vectors(20, seed=8)
    return build(
        settings,
        [
            Spec(key=f"{'a' if i < 10 else 'b'}/shot_{i:02d}.jpg", vector=v, format="JPEG")
            for i, v in enumerate(vectors)
        ],
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("people::0.3", ("people", 0.3)),
        ("people", ("people", 0.5)),
        ("icon@2x.png", ("icon@2x.png", 0.5)),
        ("a::b", ("a::b", 0.5)),
        ("::2", ("::2", 0.5)),
        ("12::-1.5", ("12", -1.5)),
    ],
)
def test_split_weight(value: str, expected: tuple[str, float]) -> None:
    assert split_weight(value, 0.5) == expected


def test_minus_and_like_id_match_the_service(settings: Settings, ids: list[int]) -> None:
    result = CliRunner().invoke(
        main,
        ["search", "beach", "--minus", "people::0.3", "--like-id", f"{ids[2]}::0.5", "-k", "5", "--json"],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    query = Query(parts=(TextPart("beach"), TextPart("people", -0.3), ImageIdPart(ids[2], 0.5)), limit=5)
    with session_scope(settings) as session:
        expected = SearchService(settings).search(session, query)
    assert [r["id"] for r in document["results"]] == [h.id for h in expected.hits]
    assert [r["score"] for r in document["results"]] == [round(h.score, 6) for h in expected.hits]


def test_pages_filters_and_explain(settings: Settings, ids: list[int]) -> None:
    runner = CliRunner()
    pages = [
        json.loads(
            runner.invoke(
                main, ["search", "shot", "--prefix", "b/", "-k", "4", "--offset", str(o), "--json"]
            ).output
        )
        for o in (0, 4, 8)
    ]
    keys = [r["key"] for page in pages for r in page["results"]]
    assert len(keys) == len(set(keys)) == 10 and all(k.startswith("b/") for k in keys)
    assert pages[0]["total"] == 10
    explained = runner.invoke(main, ["search", "beach", "--minus", "people", "-k", "2", "--explain"])
    assert explained.exit_code == 0, explained.output
    assert "text:people" in explained.output and "-0.5 x cos" in explained.output


def test_like_file_and_hybrid_file_name(settings: Settings, ids: list[int], tmp_path: Path) -> None:
    photo = write_image(tmp_path / "query.png", 3)
    liked = CliRunner().invoke(main, ["search", "--like", str(photo), "-k", "3", "--json"])
    assert liked.exit_code == 0, liked.output
    assert len(json.loads(liked.output)["results"]) == 3
    named = CliRunner().invoke(main, ["search", "shot_13", "--mode", "hybrid", "-k", "3", "--json"])
    first = json.loads(named.output)["results"][0]
    assert first["id"] == ids[13] and first["exact_name"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search"], "give a TEXT"),
        (["search", "--minus", "people"], "positive weight"),
        (["search", "x", "--like", "/nonexistent.png"], "cannot read"),
        (["search", "x", "--min-size", "lots"], "not a size"),
        (["search", "x", "--captured-after", "yesterday"], "not an ISO date"),
        (["search", "x", "--template", "t {}", "--no-templates"], "not both"),
        (["search", "x", "--format", "psd"], "Invalid value"),
    ],
)
def test_errors_exit_nonzero_with_a_reason(
    settings: Settings, ids: list[int], args: list[str], message: str
) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert message in result.output


def test_size_and_time_options_filter(settings: Settings, ids: list[int]) -> None:
    result = CliRunner().invoke(
        main,
        ["search", "x", "--min-size", "1K", "--max-size", "0.5M", "--format", "jpeg", "-k", "50", "--json"],
    )
    assert json.loads(result.output)["total"] == 0  # every test file is 1000 bytes, below 1K = 1024
    result = CliRunner().invoke(
        main, ["search", "x", "--max-size", "1K", "--captured-after", "2020-01-01", "--json"]
    )
    assert json.loads(result.output)["total"] == 0  # no capture times in this catalog
    result = CliRunner().invoke(main, ["search", "x", "--max-size", "1K", "-k", "50", "--json"])
    assert json.loads(result.output)["total"] == 20
