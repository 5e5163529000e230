"""Concurrent text queries share forwards of the text tower; a lone query waits for nobody."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from pixseek.model.text_batcher import TextBatcher


def _embed(texts: list[str]) -> np.ndarray:
    return np.array([[float(len(t)), float(sum(map(ord, t)))] for t in texts], dtype=np.float32)


def test_texts_that_queue_while_a_forward_runs_go_in_one_batch_and_each_gets_its_own() -> None:
    started, release = threading.Event(), threading.Event()
    forwards: list[list[str]] = []

    def forward(texts: list[str]) -> np.ndarray:
        forwards.append(list(texts))
        if len(forwards) == 1:  # the first forward runs until the others have queued behind it
            started.set()
            assert release.wait(30)
        return _embed(texts)

    batcher = TextBatcher(forward)
    results: dict[str, np.ndarray] = {}

    def ask(texts: list[str]) -> None:
        results[texts[0]] = batcher(texts)

    first = threading.Thread(target=ask, args=(["a dog"],))
    first.start()
    assert started.wait(30)
    others = [threading.Thread(target=ask, args=([f"query {i}", f"template {i}"],)) for i in range(5)]
    for thread in others:
        thread.start()
    deadline = time.monotonic() + 30
    while sum(len(r.texts) for r in batcher._queue) < 10:  # all five have queued
        assert time.monotonic() < deadline
        time.sleep(0.001)
    release.set()
    for thread in [first, *others]:
        thread.join(30)
    assert forwards[0] == ["a dog"] and len(forwards) == 2 and len(forwards[1]) == 10
    for text, got in results.items():
        i = text.split()[-1]
        want = _embed([text] if text == "a dog" else [f"query {i}", f"template {i}"])
        np.testing.assert_array_equal(got, want)


def test_a_failed_forward_fails_its_callers_and_the_next_query_runs() -> None:
    calls = []

    def forward(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        if len(calls) == 1:
            raise RuntimeError("tower crashed")
        return _embed(texts)

    batcher = TextBatcher(forward)
    with pytest.raises(RuntimeError, match="tower crashed"):
        batcher(["one"])
    np.testing.assert_array_equal(batcher(["two"]), _embed(["two"]))


def test_batches_stay_under_the_limit() -> None:
    sizes: list[int] = []
    gate = threading.Event()

    def forward(texts: list[str]) -> np.ndarray:
        sizes.append(len(texts))
        gate.wait(30)
        return _embed(texts)

    batcher = TextBatcher(forward, max_texts=4)
    threads = [threading.Thread(target=batcher, args=([f"t{i}", f"u{i}", f"v{i}"],)) for i in range(4)]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join(30)
    assert sizes == [3, 3, 3, 3]  # a request is never split, and two would be 6 > 4
