"""The same search behaviour on PostgreSQL: tsvector keywords, regex globs, UTC time filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from pixseek.db import session_scope
from pixseek.settings import Settings
from search.filters import Filters
from search.query import Mode, Query, TextPart, VectorPart
from search.service import SearchService
from tests.search.catalog import Spec, build, random_vectors

pytestmark = pytest.mark.services


def test_keyword_hybrid_and_filters_on_postgres(pg_settings: Settings) -> None:
    settings = pg_settings
    vectors = random_vectors(24, seed=21)
    t0 = datetime(2024, 5, 1, 12, tzinfo=UTC)
    specs = [
        Spec(
            key=f"Trips/{'a' if i % 2 else 'b'}/IMG_{i:04d}.jpg",
            vector=v,
            captured_at=t0 + timedelta(hours=i),
        )
        for i, v in enumerate(vectors)
    ]
    specs[3].caption = "Red kayak on the lake"
    specs[5].caption = "a kayak and a tent"
    ids = build(settings, specs)
    service = SearchService(settings)

    def run(query: Query) -> list[int]:
        with session_scope(settings) as session:
            return [hit.id for hit in service.search(session, query).hits]

    assert sorted(run(Query(parts=(TextPart("kayak"),), mode=Mode.KEYWORD))) == [ids[3], ids[5]]
    assert run(Query(parts=(TextPart("kayak"), TextPart("tent", -1)), mode=Mode.KEYWORD)) == [ids[3]]
    assert run(Query(parts=(TextPart("IMG_0007.jpg"),), mode=Mode.HYBRID, limit=3))[0] == ids[7]

    q = random_vectors(1, seed=3)[0]
    # Glob as a regular expression, case-sensitive prefix, and an aware bound in another zone.
    east = timezone(timedelta(hours=2))
    cases = [
        (Filters(key_glob="Trips/a/*.jpg"), lambda i: i % 2 == 1),
        (Filters(key_prefix="trips/"), lambda i: False),
        (Filters(captured_after=(t0 + timedelta(hours=10)).astimezone(east)), lambda i: i >= 10),
    ]
    for filters, rule in cases:
        matching = [i for i in range(24) if rule(i)]
        expected = [ids[i] for i in sorted(matching, key=lambda i: -float(vectors[i] @ q))][:5]
        assert run(Query(parts=(VectorPart(q),), filters=filters, limit=5)) == expected
