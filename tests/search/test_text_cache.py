"""Repeated text queries reuse their embedding; the cache is bounded and keyed by model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.encoder import Encoder, get_encoder
from ingest.service import run_ingest
from pixseek.db import session_scope
from pixseek.settings import Settings
from search.service import SearchService
from search.text_cache import TextEmbeddingCache


class CountingEncoder:
    """Stands in for Encoder: counts text encodings, returns a vector per text."""

    def __init__(self, model_id: str = "m/none") -> None:
        self.model_id = model_id
        self.calls = 0

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        seed = sum(map(ord, texts[0]))
        vector = np.random.default_rng(seed).standard_normal((1, 8)).astype(np.float32)
        return vector / np.linalg.norm(vector)


def test_second_lookup_is_a_hit_with_the_same_vector() -> None:
    cache = TextEmbeddingCache(maxsize=4)
    encoder = CountingEncoder()
    first = cache.embed(encoder, "a dog")  # type: ignore[arg-type]
    second = cache.embed(encoder, "a dog")  # type: ignore[arg-type]
    assert encoder.calls == 1 and cache.hits == 1 and cache.misses == 1
    assert second is first and not second.flags.writeable


def test_least_recently_used_entry_is_evicted_and_models_do_not_share() -> None:
    cache = TextEmbeddingCache(maxsize=2)
    encoder = CountingEncoder()
    for text in ("a", "b", "a", "c"):  # "b" is the least recently used when "c" arrives
        cache.embed(encoder, text)  # type: ignore[arg-type]
    assert len(cache) == 2 and encoder.calls == 3
    cache.embed(encoder, "a")  # type: ignore[arg-type]
    assert encoder.calls == 3
    cache.embed(encoder, "b")  # type: ignore[arg-type]
    assert encoder.calls == 4
    other = CountingEncoder("other/none")
    cache.embed(other, "b")  # type: ignore[arg-type]
    assert other.calls == 1


def test_search_service_encodes_a_repeated_query_once(
    settings: Settings, bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_ingest(settings, str(bucket))
    encoder = get_encoder(settings)
    calls: list[list[str]] = []
    original = Encoder.encode_texts

    def counting(self: Encoder, texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return original(self, texts)

    monkeypatch.setattr(Encoder, "encode_texts", counting)
    service = SearchService(settings)
    with session_scope(settings) as session:
        first = service.search_text(session, "blue squares", k=3)
        second = service.search_text(session, "blue squares", k=3)
    assert calls == [["blue squares"]]
    assert [h.id for h in first] == [h.id for h in second]
    assert encoder is get_encoder(settings)
