"""Prompt templates for short text queries, and a cache of text embeddings.

CLIP was trained on captions, so a bare word ("beach") embeds less well than a caption
("a photo of beach."). A short query (at most `prompt_max_words` words) is put in every
template, each filled prompt is embedded, and the unit embeddings are averaged and
re-normalised (prompt ensembling, as in the CLIP paper). Longer queries are embedded
as written. Every text part of every query goes through here, negative ones included.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from ingest.encoder import Encoder
from pixseek.errors import InvalidRequest

CACHE_SIZE = 512


def check_templates(templates: Sequence[str]) -> None:
    for template in templates:
        if template.count("{}") != 1:
            raise InvalidRequest(f"prompt template {template!r} must contain exactly one {{}}")


def prompts_for(text: str, templates: Sequence[str], max_words: int) -> list[str]:
    """The prompts that stand for `text`: the text itself, or each template filled with it."""
    text = " ".join(text.split())
    if not templates or len(text.split()) > max_words:
        return [text]
    return [template.replace("{}", text) for template in templates]


class TextEmbedder:
    """Unit text embeddings with templates applied, cached (pages of one query re-embed nothing)."""

    def __init__(self, max_words: int) -> None:
        self.max_words = max_words
        self._cache: OrderedDict[tuple[str, str, tuple[str, ...]], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, encoder: Encoder, text: str, templates: Sequence[str]) -> np.ndarray:
        key = (encoder.model_id, text, tuple(templates))
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        prompts = prompts_for(text, templates, self.max_words)
        vectors = encoder.encode_texts(prompts)
        mean = vectors.mean(axis=0)
        vector = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
        with self._lock:
            self._cache[key] = vector
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return vector
