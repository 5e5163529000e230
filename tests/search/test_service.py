"""The search service: ranked hits checked against brute force over the stored vectors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from pixseek.core.db import ensure_schema, get_engine, session_scope
from pixseek.core.errors import (
    ImageNotFound,
    IndexNotReady,
    InvalidRequest,
    PayloadTooLarge,
    UnsupportedImage,
)
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image
from pixseek.ingest.run import run_ingest
from pixseek.search.query import ImageIdPart, ImagePart, Part, Query, TextPart, VectorPart
from pixseek.search.service import Filters, Hit, SearchService
from tests.support.images import encode, pattern, write_image
from tests.support.ingested import stored_vectors
from tests.support.settings import make_settings


@dataclass
class Indexed:
    settings: Settings
    service: SearchService
    buckets: dict[str, Path]  # name -> folder
    ids: dict[tuple[str, str], int]  # (bucket path, key) -> id

    def search(self, *parts: Part, **options: Any) -> list[Hit]:
        """The hits of one search for these parts; `options` are the other `Query` fields."""
        with session_scope(self.settings) as session:
            return self.service.search(session, Query(parts=parts, **options)).hits


def build_indexed(settings: Settings, tmp_path: Path) -> Indexed:
    """Two buckets: `one` with keys under a/, a_b/ and b/; `two` with a few more images."""
    ensure_schema(settings)
    one, two = tmp_path / "one", tmp_path / "two"
    for i in range(4):
        write_image(one / "a" / f"{i}.png", i)
        write_image(one / "a_b" / f"{i}.png", 10 + i)
        write_image(one / "b" / f"{i}.png", 20 + i)
        write_image(two / "a" / f"{i}.png", 30 + i)
    run_ingest(settings, str(one))
    run_ingest(settings, str(two))
    with session_scope(settings) as session:
        ids = {(row.bucket, row.key): row.id for row in session.scalars(select(Image))}
    return Indexed(settings, SearchService(settings), {"one": one, "two": two}, ids)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Indexed]:
    """Built once for the module: tests that change the buckets build their own."""
    tmp_path = tmp_path_factory.mktemp("search")
    settings = make_settings(tmp_path / "data")
    yield build_indexed(settings, tmp_path)
    get_engine(settings).dispose()


def brute_force(
    settings: Settings, query: np.ndarray, k: int, allowed: set[int] | None = None
) -> list[tuple[int, float]]:
    vectors = stored_vectors(settings)
    scored = [(i, float(v @ query)) for i, v in vectors.items() if allowed is None or i in allowed]
    scored.sort(key=lambda p: (-p[1], p[0]))
    return scored[:k]


def query_vector(indexed: Indexed, data: bytes) -> np.ndarray:
    return indexed.service.embed_image_bytes(data)


def test_every_image_queried_by_itself_ranks_first_with_score_one(indexed: Indexed) -> None:
    for (bucket, key), image_id in indexed.ids.items():
        hits = indexed.search(ImagePart((Path(bucket) / key).read_bytes()), limit=3)
        assert hits[0].id == image_id, key
        assert hits[0].key == key and hits[0].bucket == bucket
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)


def test_results_are_sorted_and_equal_brute_force(indexed: Indexed) -> None:
    data = encode(pattern(99), "PNG")
    query = query_vector(indexed, data)
    hits = indexed.search(ImagePart(data), limit=7)
    assert len(hits) == 7
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    expected = brute_force(indexed.settings, query, 7)
    assert [h.id for h in hits] == [i for i, _ in expected]
    np.testing.assert_allclose([h.score for h in hits], [s for _, s in expected], atol=1e-5)


def test_k_larger_than_the_index_returns_everything(indexed: Indexed) -> None:
    hits = indexed.search(TextPart("anything"), limit=100)
    assert len(hits) == len(indexed.ids) == 16


def test_min_score_drops_weaker_hits(indexed: Indexed) -> None:
    data = encode(pattern(98), "PNG")
    query = query_vector(indexed, data)
    everything = brute_force(indexed.settings, query, 100)
    threshold = everything[5][1]  # the sixth best score
    hits = indexed.search(ImagePart(data), limit=100, min_score=threshold)
    assert [h.id for h in hits] == [i for i, s in everything if s >= threshold]
    assert len(hits) == 6
    assert all(h.score >= threshold for h in hits)
    with pytest.raises(InvalidRequest, match="min_score"):
        indexed.search(ImagePart(data), limit=10, min_score=1.01)


def test_bucket_filter_returns_the_brute_force_top_k_of_that_bucket(indexed: Indexed) -> None:
    two = str(indexed.buckets["two"].resolve())
    data = (indexed.buckets["one"] / "a" / "0.png").read_bytes()  # its best matches are in `one`
    query = query_vector(indexed, data)
    hits = indexed.search(ImagePart(data), limit=3, filters=Filters(bucket=two))
    allowed = {i for (b, _), i in indexed.ids.items() if b == two}
    assert [h.id for h in hits] == [i for i, _ in brute_force(indexed.settings, query, 3, allowed)]
    assert {h.bucket for h in hits} == {two}


def test_key_prefix_filter_returns_the_brute_force_top_k_among_matching_keys(indexed: Indexed) -> None:
    data = encode(pattern(97), "PNG")
    query = query_vector(indexed, data)
    one = str(indexed.buckets["one"].resolve())
    hits = indexed.search(ImagePart(data), limit=2, filters=Filters(bucket=one, key_prefix="b/"))
    allowed = {i for (b, key), i in indexed.ids.items() if b == one and key.startswith("b/")}
    assert [h.id for h in hits] == [i for i, _ in brute_force(indexed.settings, query, 2, allowed)]
    assert all(h.key.startswith("b/") for h in hits)


def test_key_prefix_is_literal_not_a_like_pattern(indexed: Indexed) -> None:
    hits = indexed.search(TextPart("x"), limit=100, filters=Filters(key_prefix="a_"))
    assert {h.key.split("/")[0] for h in hits} == {"a_b"}
    assert len(hits) == 4
    hits = indexed.search(TextPart("x"), limit=100, filters=Filters(key_prefix="%"))
    assert hits == []


def test_filter_matching_nothing_returns_nothing(indexed: Indexed) -> None:
    assert indexed.search(TextPart("x"), limit=5, filters=Filters(bucket="/no/such/bucket")) == []


def test_similar_by_id_excludes_itself_by_default(indexed: Indexed) -> None:
    image_id = next(iter(indexed.ids.values()))
    hits = indexed.search(ImageIdPart(image_id), limit=5)
    assert len(hits) == 5
    assert image_id not in {h.id for h in hits}
    query = stored_vectors(indexed.settings)[image_id]
    others = {i for i in indexed.ids.values() if i != image_id}
    assert [h.id for h in hits] == [i for i, _ in brute_force(indexed.settings, query, 5, others)]
    with_self = indexed.search(ImageIdPart(image_id), limit=5, include_query_images=True)
    assert with_self[0].id == image_id
    assert with_self[0].score == pytest.approx(1.0, abs=1e-5)
    assert [h.id for h in with_self[1:]] == [h.id for h in hits[:4]]


def test_similar_to_an_unknown_or_deleted_image_is_not_found(settings: Settings, tmp_path: Path) -> None:
    indexed = build_indexed(settings, tmp_path)
    with pytest.raises(ImageNotFound):
        indexed.search(ImageIdPart(10**9))
    gone = indexed.buckets["two"] / "a" / "1.png"
    gone_id = indexed.ids[(str(indexed.buckets["two"].resolve()), "a/1.png")]
    gone.unlink()
    run_ingest(indexed.settings, str(indexed.buckets["two"]))
    with pytest.raises(ImageNotFound, match="deleted"):
        indexed.search(ImageIdPart(gone_id))
    assert gone_id not in {h.id for h in indexed.search(TextPart("x"), limit=100)}


def test_text_query_returns_k_ranked_results(indexed: Indexed) -> None:
    hits = indexed.search(TextPart("a dog on a beach"), limit=5)
    assert len(hits) == 5
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len({h.id for h in hits}) == 5
    query = indexed.service.encoder.encode_texts(["a dog on a beach"])[0]
    assert [h.id for h in hits] == [i for i, _ in brute_force(indexed.settings, query, 5)]


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text_is_an_invalid_request(indexed: Indexed, text: str) -> None:
    with pytest.raises(InvalidRequest, match="empty"):
        indexed.search(TextPart(text))


@pytest.mark.parametrize("k", [0, -1, 1001])
def test_k_out_of_range_is_an_invalid_request(indexed: Indexed, k: int) -> None:
    with pytest.raises(InvalidRequest, match="limit must be"):
        indexed.search(TextPart("x"), limit=k)


def test_undecodable_upload_is_unsupported(indexed: Indexed) -> None:
    with pytest.raises(UnsupportedImage, match="not an image"):
        indexed.search(ImagePart(b"hello"))
    with pytest.raises(UnsupportedImage, match=r"truncated|JPEG"):
        indexed.search(ImagePart(encode(pattern(1), "JPEG")[:300]))


def test_oversized_upload_is_payload_too_large(indexed: Indexed) -> None:
    small = indexed.settings.model_copy(update={"max_upload_bytes": 100})
    with pytest.raises(PayloadTooLarge):
        SearchService(small).embed_image_bytes(encode(pattern(1), "PNG"))


def test_no_index_yet_is_index_not_ready(settings: Settings) -> None:
    service = SearchService(settings)
    with session_scope(settings) as session:
        with pytest.raises(IndexNotReady, match="pixseek ingest"):
            service.search(session, Query(parts=(TextPart("a dog"),)))
        with pytest.raises(IndexNotReady):
            service.search(session, Query(parts=(ImagePart(encode(pattern(1), "PNG")),)))
        with pytest.raises(IndexNotReady):
            service.search_vector(session, np.ones(64, dtype=np.float32))


def test_query_of_the_wrong_dimension_is_an_invalid_request(indexed: Indexed) -> None:
    with pytest.raises(InvalidRequest, match="dim"):
        indexed.search(VectorPart(np.ones(12, dtype=np.float32)))


def test_hit_as_dict_has_the_documented_keys(indexed: Indexed) -> None:
    hit = indexed.search(TextPart("x"), limit=1)[0]
    assert {"id", "bucket", "key", "score"} <= set(hit.as_dict())


def test_empty_bucket_gives_an_empty_index_and_no_results(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    run_ingest(settings, str(tmp_path / "empty"))
    service = SearchService(settings)
    assert service.loaded_index().ntotal == 0
    with session_scope(settings) as session:
        assert service.search(session, Query(parts=(TextPart("a dog"),), limit=5)).hits == []
