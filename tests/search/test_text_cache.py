"""Repeated text queries reuse their embedding; the cache is bounded and keyed by model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.ingest.run import run_ingest
from pixseek.model.encoder import Encoder, get_encoder
from pixseek.model.identity import ModelId
from pixseek.search.query import Query, TextPart
from pixseek.search.service import SearchService
from pixseek.search.text_cache import TextEmbeddingCache


class CountingEncoder:
    """Stands in for Encoder: counts text encodings, returns a vector per text."""

    def __init__(self, name: str = "m") -> None:
        self.model_id = ModelId(name, "none")
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
    assert encoder.calls == 1
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
    other = CountingEncoder("other")
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
        first = service.search(session, Query(parts=(TextPart("blue squares"),), limit=3)).hits
        second = service.search(session, Query(parts=(TextPart("blue squares"),), limit=3)).hits
    assert calls == [["a photo of blue squares."]]  # the default prompt template, encoded once
    assert [h.id for h in first] == [h.id for h in second]
    assert encoder is get_encoder(settings)


class SlowEncoder(CountingEncoder):
    """Text batches take long enough for concurrent callers to queue behind them."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        import time

        self.batches.append(list(texts))
        time.sleep(0.05)
        rows = [super(SlowEncoder, self).encode_texts([t])[0] for t in texts]
        return np.stack(rows)


def test_concurrent_queries_are_encoded_together_and_each_gets_its_own_vector() -> None:
    import threading

    encoder = SlowEncoder()
    single = {f"text {i}": CountingEncoder().encode_texts([f"text {i}"])[0] for i in range(12)}
    cache = TextEmbeddingCache()
    results: dict[str, np.ndarray] = {}

    def query(text: str) -> None:
        results[text] = cache.embed(encoder, text)  # type: ignore[arg-type]

    threads = [threading.Thread(target=query, args=(t,)) for t in single]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(t for batch in encoder.batches for t in batch) == sorted(single)
    assert len(encoder.batches) < len(single), "no two queries shared a forward"
    for text, vector in results.items():
        np.testing.assert_allclose(vector, single[text])


def test_an_encoder_error_reaches_the_caller_and_the_next_query_works() -> None:
    class Failing(CountingEncoder):
        def encode_texts(self, texts: list[str]) -> np.ndarray:
            if texts == ["bad"]:
                raise RuntimeError("tokenizer exploded")
            return super().encode_texts(texts)

    cache = TextEmbeddingCache()
    encoder = Failing()
    with pytest.raises(RuntimeError, match="exploded"):
        cache.embed(encoder, "bad")  # type: ignore[arg-type]
    assert cache.embed(encoder, "good").shape == (8,)  # type: ignore[arg-type]
