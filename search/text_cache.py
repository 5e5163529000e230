"""Text query embeddings: a small LRU for repeated queries, and batching of concurrent ones.

Popular queries repeat (a UI's suggestions, a user paging through results, a dashboard
refreshing); the text tower costs tens of milliseconds on a CPU, the lookup microseconds.
Entries are keyed by model and exact text, so a model change never serves a stale vector;
1,024 entries of 512 float32 take 2 MiB.

Queries that miss the cache while another is being encoded are encoded together in the
next forward. A batch of 8 short texts costs 1.4-4.2x one on the development machine, not 8x,
so under concurrent load each query waits for about one forward instead of one forward per
query queued before it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future

import numpy as np

from pixseek.core.metrics import TEXT_CACHE_LOOKUPS
from pixseek.model.encoder import Encoder

DEFAULT_SIZE = 1024
MAX_BATCH = 32


class TextBatcher:
    """Encodes texts that arrive while a forward is running together, in the next forward.

    No thread of its own: a caller that finds no forward running becomes the leader and
    encodes batches from the head of the queue (first come, first served) until its own
    text is done, then hands over to a waiting caller. No caller serves others forever.
    """

    def __init__(self, max_batch: int = MAX_BATCH) -> None:
        self.max_batch = max_batch
        self._pending: list[tuple[Encoder, str, Future[np.ndarray]]] = []
        self._leading = False
        self._cond = threading.Condition()

    def embed(self, encoder: Encoder, text: str) -> np.ndarray:
        future: Future[np.ndarray] = Future()
        with self._cond:
            self._pending.append((encoder, text, future))
            while self._leading and not future.done():
                self._cond.wait()
            if future.done():
                return future.result()
            self._leading = True
        try:
            while not future.done():
                self._run_one_batch()
        finally:
            with self._cond:
                self._leading = False
                self._cond.notify_all()
        return future.result()

    def _run_one_batch(self) -> None:
        with self._cond:
            # One model per forward: the queue head's encoder and its queued texts.
            encoder = self._pending[0][0]
            batch = [item for item in self._pending if item[0] is encoder][: self.max_batch]
            taken = {id(item[2]) for item in batch}
            self._pending = [item for item in self._pending if id(item[2]) not in taken]
        try:
            vectors = encoder.encode_texts([text for _, text, _ in batch])
        except Exception as exc:  # every caller in the batch gets the error
            for _, _, future in batch:
                future.set_exception(exc)
        else:
            for (_, _, future), vector in zip(batch, vectors, strict=True):
                future.set_result(vector)
        with self._cond:
            self._cond.notify_all()


class TextEmbeddingCache:
    """Thread-safe LRU from (model, text) to a unit text embedding."""

    def __init__(self, maxsize: int = DEFAULT_SIZE, batcher: TextBatcher | None = None) -> None:
        self.maxsize = maxsize
        self.batcher = batcher or TextBatcher()
        self._entries: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def embed(self, encoder: Encoder, text: str) -> np.ndarray:
        """The embedding of `text` by `encoder`, from the cache when seen before."""
        key = (encoder.model_id.key, text)
        with self._lock:
            vector = self._entries.get(key)
            if vector is not None:
                self._entries.move_to_end(key)
                TEXT_CACHE_LOOKUPS.labels("hit").inc()
                return vector
        TEXT_CACHE_LOOKUPS.labels("miss").inc()
        # Encode outside the lock: two threads may both encode a new text once, which is
        # cheaper than making every other query wait on one encoder call.
        vector = self.batcher.embed(encoder, text).copy()  # own the row, not the batch array
        vector.setflags(write=False)  # shared between callers: nobody may change it in place
        with self._lock:
            self._entries[key] = vector
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        return vector
