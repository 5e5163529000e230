"""Filters return only matching images, and exactly the top-k among them (brute force)."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from pixseek.core.db import session_scope
from pixseek.core.errors import InvalidRequest
from pixseek.core.globs import glob_match, glob_to_regex
from pixseek.core.settings import Settings
from pixseek.search.filters import Filters
from pixseek.search.query import Query, VectorPart
from pixseek.search.service import SearchService
from tests.support.synthetic_catalog import Spec, build, publish, random_vectors, unit

T0 = datetime(2024, 1, 1, tzinfo=UTC)
FORMATS = ("JPEG", "PNG", "WEBP")


def _specs(n: int = 240) -> list[Spec]:
    rng = np.random.default_rng(7)
    vectors = random_vectors(n, seed=3)
    folders = ("2023/summer", "2023/winter", "2024/Summer", "misc")
    return [
        Spec(
            key=f"{folders[i % 4]}/img_{i:04d}.{('jpg', 'png', 'webp')[i % 3]}",
            vector=vectors[i],
            bucket=("/a", "/b")[i % 2],
            format=FORMATS[i % 3],
            width=int(rng.integers(100, 4000)),
            height=int(rng.integers(100, 3000)),
            size=int(rng.integers(1_000, 5_000_000)),
            created_at=T0 + timedelta(hours=i),
            captured_at=None if i % 5 == 0 else T0 - timedelta(days=int(rng.integers(0, 900))),
        )
        for i in range(n)
    ]


# (filters, the same rule written in Python over the specs)
CASES: list[tuple[Filters, Callable[[Spec], bool]]] = [
    (Filters(bucket="/a"), lambda s: s.bucket == "/a"),
    (Filters(key_prefix="2023/"), lambda s: s.key.startswith("2023/")),
    (Filters(key_prefix="2024/summer"), lambda s: s.key.startswith("2024/summer")),  # case matters: none
    (
        Filters(key_glob="*/summer/*.jpg"),
        lambda s: re.fullmatch(r"[^/]*/summer/[^/]*\.jpg", s.key) is not None,
    ),
    (
        Filters(key_glob="**/img_00[0-4]?.png"),
        lambda s: re.fullmatch(r"(.*/)?img_00[0-4].\.png", s.key) is not None,
    ),
    (Filters(formats=("jpeg", "WEBP")), lambda s: s.format in ("JPEG", "WEBP")),
    (Filters(min_width=1000, max_width=2000), lambda s: 1000 <= s.width <= 2000),
    (Filters(min_height=2500), lambda s: s.height >= 2500),
    (Filters(max_size=300_000), lambda s: s.size <= 300_000),
    (
        Filters(ingested_after=T0 + timedelta(hours=10), ingested_before=T0 + timedelta(hours=30)),
        lambda s: T0 + timedelta(hours=10) <= s.created_at <= T0 + timedelta(hours=30),  # type: ignore[operator]
    ),
    (
        Filters(captured_after=datetime(2023, 1, 1)),  # naive means UTC
        lambda s: s.captured_at is not None and s.captured_at >= datetime(2023, 1, 1, tzinfo=UTC),
    ),
    (  # an aware bound in another zone compares as the same instant in UTC
        Filters(ingested_before=(T0 + timedelta(hours=5)).astimezone(timezone(timedelta(hours=-7)))),
        lambda s: s.created_at <= T0 + timedelta(hours=5),  # type: ignore[operator]
    ),
    (
        Filters(bucket="/b", formats=("PNG",), min_size=1_000_000, captured_before=T0),
        lambda s: (
            s.bucket == "/b"
            and s.format == "PNG"
            and s.size >= 1_000_000
            and s.captured_at is not None
            and s.captured_at <= T0
        ),
    ),
]


@pytest.fixture(scope="module")
def filtered_catalog(module_settings: Settings) -> tuple[list[Spec], list[int]]:
    specs = _specs()
    return specs, build(module_settings, specs)


@pytest.fixture(params=["flat-selector", "ivf-exact-subset"])
def strategy(
    request: pytest.FixtureRequest, module_settings: Settings, filtered_catalog: tuple[list[Spec], list[int]]
) -> Settings:
    """Settings under which a filtered search takes one path or the other.

    On the flat index, filtered search uses the index with an id selector; on an IVF index
    that probes one list of sixteen, subsets below `search_exact_max` are scored exactly.
    """
    specs, ids = filtered_catalog
    vectors = np.stack([unit(s.vector) for s in specs])
    if request.param == "ivf-exact-subset":
        publish(module_settings, ids, vectors, "ivf")
        return module_settings.model_copy(update={"search_exact_max": 1_000_000})
    publish(module_settings, ids, vectors, "flat")
    return module_settings


@pytest.mark.parametrize("case", range(len(CASES)))
def test_filtered_search_is_exact_top_k_among_matches(
    module_settings: Settings, filtered_catalog: tuple[list[Spec], list[int]], strategy: Settings, case: int
) -> None:
    specs, ids = filtered_catalog
    filters, rule = CASES[case]
    query_vector = random_vectors(1, seed=100 + case)[0]
    matching = [i for i, spec in enumerate(specs) if rule(spec)]
    scores = np.array([float(specs[i].vector @ query_vector) for i in matching])
    expected = [ids[matching[j]] for j in np.lexsort((np.array(matching), -scores))][:10]
    service = SearchService(strategy)
    with session_scope(module_settings) as session:
        page = service.search(session, Query(parts=(VectorPart(query_vector),), filters=filters, limit=10))
    assert [hit.id for hit in page.hits] == expected
    assert page.total == len(matching)
    by_id = {ids[i]: specs[i] for i in range(len(specs))}
    for hit in page.hits:
        assert rule(by_id[hit.id])
        assert hit.score == pytest.approx(float(by_id[hit.id].vector @ query_vector), abs=1e-5)


def test_case_with_no_match_returns_nothing(
    module_settings: Settings, filtered_catalog: tuple[list[Spec], list[int]]
) -> None:
    with session_scope(module_settings) as session:
        page = SearchService(module_settings).search(
            session,
            Query(parts=(VectorPart(random_vectors(1)[0]),), filters=Filters(key_prefix="2024/summer")),
        )
    assert page.hits == []
    assert page.total == 0


def test_an_inverted_range_matches_nothing(
    module_settings: Settings, filtered_catalog: tuple[list[Spec], list[int]]
) -> None:
    # Not an error: no schema can say low <= high, so the contract (docs/toolbox.md) makes it empty.
    query = Query(parts=(VectorPart(random_vectors(1)[0]),), filters=Filters(min_width=10, max_width=5))
    with session_scope(module_settings) as session:
        assert SearchService(module_settings).search(session, query).hits == []


GLOB_CASES = [
    ("*.jpg", ["a.jpg"], ["d/a.jpg", "a.jpeg"]),
    ("**/*.jpg", ["a.jpg", "d/a.jpg", "d/e/a.jpg"], ["a.png"]),
    ("2023/**", ["2023/a.jpg", "2023/x/y.png"], ["2024/a.jpg"]),
    ("img_??.png", ["img_01.png"], ["img_1.png", "img_/1.png"]),
    ("[!a]*.png", ["b.png"], ["a.png", "/.png"]),
    ("[ab]+(1).png", ["a+(1).png"], ["a+1.png", "c+(1).png"]),
    ("a/**/b/*.jpg", ["a/b/x.jpg", "a/q/r/b/x.jpg"], ["a/b/c/x.jpg", "ab/x.jpg"]),
]


@pytest.mark.parametrize(("pattern", "matches", "misses"), GLOB_CASES)
def test_glob_matcher_and_its_regex_agree_on_examples(
    pattern: str, matches: list[str], misses: list[str]
) -> None:
    regex = re.compile(glob_to_regex(pattern))
    assert all(glob_match(pattern, key) and regex.match(key) for key in matches)
    assert not any(glob_match(pattern, key) or regex.match(key) for key in misses)


def test_glob_matcher_agrees_with_the_regex_on_random_globs() -> None:
    rng = random.Random(7)
    pieces = ["*", "**", "**/", "?", "a", "b", "/", "[ab]", "[!a]", "."]
    for _ in range(2000):
        pattern = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        key = "".join(rng.choice("ab/.c") for _ in range(rng.randint(0, 8)))
        assert glob_match(pattern, key) == bool(re.match(glob_to_regex(pattern), key)), (pattern, key)


def test_a_backtracking_glob_is_matched_in_one_pass() -> None:
    # As a backtracking regex this pattern needs about C(n, 8) steps on a key of n `a`s:
    # 10 s at n=56, centuries at n=2000. The position-set matcher reads each character once.
    pattern = "**a" * 8 + "!"
    assert not glob_match(pattern, "a" * 2000)
    assert glob_match(pattern, "a" * 2000 + "!")


def test_key_glob_filter_with_a_hostile_pattern_answers(
    module_settings: Settings, filtered_catalog: tuple[list[Spec], list[int]]
) -> None:
    query = Query(parts=(VectorPart(random_vectors(1)[0]),), filters=Filters(key_glob="**a" * 8 + "!"))
    with session_scope(module_settings) as session:
        assert SearchService(module_settings).search(session, query).total == 0


def test_overlong_key_glob_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="key_glob is longer"):
        Filters(key_glob="*" * 300).check()
