"""Concurrent text queries share one forward of the text tower.

A search waits for its query's text embedding, and under concurrent load each query used to
take its own turn at the model (one lock): eight clients meant eight forwards in a row. Here
the first caller runs the tower; callers that arrive while it runs queue their texts, and
when the forward ends the next of them runs every queued text in one batch. An idle server
adds no wait to a lone query; a loaded one runs fewer, larger forwards, which cost far less
per text (docs/benchmarks.md, "HTTP at 1M").
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class _Request:
    texts: list[str]
    result: np.ndarray | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class TextBatcher:
    """Runs `forward(texts) -> (len(texts), D)` for many threads, batching what queues up."""

    def __init__(self, forward: Callable[[list[str]], np.ndarray], max_texts: int = 64) -> None:
        self._forward = forward
        self._max_texts = max_texts
        self._lock = threading.Lock()
        self._queue: list[_Request] = []
        self._running = False

    def __call__(self, texts: list[str]) -> np.ndarray:
        request = _Request(list(texts))
        with self._lock:
            self._queue.append(request)
            lead = not self._running
            if lead:
                self._running = True
        if lead:
            self._lead()
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def _lead(self) -> None:
        """Run queued requests in batches until none is left, then hand the role back."""
        while True:
            with self._lock:
                batch: list[_Request] = []
                count = 0
                while self._queue and (not batch or count + len(self._queue[0].texts) <= self._max_texts):
                    request = self._queue.pop(0)
                    batch.append(request)
                    count += len(request.texts)
                if not batch:
                    self._running = False
                    return
            try:
                out = self._forward([text for request in batch for text in request.texts])
            except BaseException as exc:  # each caller gets the error of the forward it was in
                for request in batch:
                    request.error = exc
                    request.done.set()
                continue
            start = 0
            for request in batch:
                request.result = out[start : start + len(request.texts)]
                start += len(request.texts)
                request.done.set()
