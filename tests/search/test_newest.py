"""order=newest: the relevant results (the per-query cutoff of search/newest.py), newest
capture first; checked against the rule computed by hand from the relevance ranking."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient

from pixseek.api.app import create_app
from pixseek.core.db import session_scope
from pixseek.core.errors import InvalidRequest
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image
from pixseek.search.query import Order, Query, VectorPart
from pixseek.search.service import SearchService
from tests.support.synthetic_catalog import DIM, Spec, build, random_vectors, unit

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _catalog(settings: Settings) -> tuple[list[int], np.ndarray]:
    """Ten images near the query (a cluster) among fifty others, capture times shuffled."""
    rng = np.random.default_rng(5)
    target = unit(rng.standard_normal(DIM))
    others = random_vectors(50, seed=9)
    near = [unit(target + 0.15 * rng.standard_normal(DIM)) for _ in range(10)]
    vectors = np.vstack([np.array(near), others])
    specs = [
        Spec(
            key=f"img_{i:03d}.png",
            vector=vectors[i],
            captured_at=None if i % 7 == 3 else T0 - timedelta(days=int(rng.integers(0, 1000))),
            created_at=T0 + timedelta(minutes=i),
        )
        for i in range(len(vectors))
    ]
    build(settings, specs)
    return list(range(len(specs))), target


def test_newest_keeps_the_relevant_results_newest_first(settings: Settings) -> None:
    _, target = _catalog(settings)
    service = SearchService(settings)
    with session_scope(settings) as session:
        ranked = service.search(session, Query(parts=(VectorPart(target),), limit=1000)).hits
        page = service.search(session, Query(parts=(VectorPart(target),), limit=1000, order=Order.NEWEST))
        captured = {row.id: row.captured_at for row in session.query(Image)}

    scores = [h.similarity or 0.0 for h in ranked]
    best, typical = max(scores), statistics.median(scores)
    floor = best - 0.5 * (best - typical)
    expected = {h.id for h in ranked if (h.similarity or 0.0) >= floor}
    assert {h.id for h in page.hits} == expected
    assert page.total == len(expected)
    # The cluster of ten is what the cut keeps, not the noise around it.
    assert set(expected) == set(range(1, 11))  # ids 1..10: the near ones

    dated = [captured[h.id] for h in page.hits if captured[h.id] is not None]
    assert dated == sorted(dated, reverse=True)
    undated = [i for i, h in enumerate(page.hits) if captured[h.id] is None]
    assert all(i >= len(dated) for i in undated)  # images without a capture time come last


def test_newest_pages_never_overlap_and_cut_narrows(settings: Settings) -> None:
    _, target = _catalog(settings)
    service = SearchService(settings)
    with session_scope(settings) as session:
        whole = service.search(session, Query(parts=(VectorPart(target),), limit=100, order=Order.NEWEST))
        pages = [
            service.search(
                session, Query(parts=(VectorPart(target),), limit=3, offset=o, order=Order.NEWEST)
            ).hits
            for o in range(0, 15, 3)
        ]
        strict = service.search(
            session, Query(parts=(VectorPart(target),), limit=100, order=Order.NEWEST, relevance_cut=0.0)
        )
        with pytest.raises(InvalidRequest):
            service.search(session, Query(parts=(VectorPart(target),), order=Order.NEWEST, relevance_cut=2.0))
    assert [h.id for page in pages for h in page] == [h.id for h in whole.hits]
    assert len(strict.hits) == 1  # only the best score


def test_newest_over_http(settings: Settings) -> None:
    _catalog(settings)
    body = {"parts": [{"image_id": 1}], "order": "newest", "limit": 50}
    with TestClient(create_app(settings)) as client:
        response = client.post("/v1/search", json=body)
        assert response.status_code == 200, response.text
        found = {hit["id"] for hit in response.json()["results"]}
        assert found <= set(range(2, 11)) and len(found) >= 5  # its cluster, itself left out
        assert client.post("/v1/search", json={**body, "order": "oldest"}).status_code == 422
