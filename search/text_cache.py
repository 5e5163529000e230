"""A small LRU of text query embeddings: a repeated query skips the text encoder.

Popular queries repeat (a UI's suggestions, a user paging through results, a dashboard
refreshing); the text tower costs a few to tens of milliseconds on a CPU, the lookup
microseconds. Entries are keyed by model and exact text, so a model change never serves a
stale vector; 1,024 entries of 512 float32 take 2 MiB.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from ingest.encoder import Encoder

DEFAULT_SIZE = 1024


class TextEmbeddingCache:
    """Thread-safe LRU from (model, text) to a unit text embedding."""

    def __init__(self, maxsize: int = DEFAULT_SIZE) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def embed(self, encoder: Encoder, text: str) -> np.ndarray:
        """The embedding of `text` by `encoder`, from the cache when seen before."""
        key = (encoder.model_id, text)
        with self._lock:
            vector = self._entries.get(key)
            if vector is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return vector
            self.misses += 1
        # Encode outside the lock: two threads may both encode a new text once, which is
        # cheaper than making every other query wait on one encoder call.
        vector = encoder.encode_texts([text])[0]
        vector.setflags(write=False)  # shared between callers: nobody may change it in place
        with self._lock:
            self._entries[key] = vector
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        return vector
