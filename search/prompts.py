"""Prompt templates for short text queries.

CLIP was trained on captions, so a bare word ("beach") embeds less well than a caption
("a photo of beach."). A short query (at most `prompt_max_words` words) is put in every
template, each filled prompt is embedded, and the unit embeddings are averaged and
re-normalised (prompt ensembling, as in the CLIP paper). Longer queries are embedded
as written. Every text part of every query goes through here, negative ones included.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pixseek.core.errors import InvalidRequest
from pixseek.model.encoder import Encoder
from pixseek.search.text_cache import TextEmbeddingCache


def check_templates(templates: Sequence[str], max_count: int, max_chars: int) -> None:
    """Refuse templates without exactly one `{}`, more than `max_count`, or longer than `max_chars`."""
    if len(templates) > max_count:
        raise InvalidRequest(f"at most {max_count} prompt templates per query")
    for template in templates:
        if len(template) > max_chars:
            raise InvalidRequest(f"prompt templates are limited to {max_chars} characters")
        if template.count("{}") != 1:
            raise InvalidRequest(f"prompt template {template!r} must contain exactly one {{}}")


def prompts_for(text: str, templates: Sequence[str], max_words: int) -> list[str]:
    """The prompts that stand for `text`: the text itself, or each template filled with it."""
    text = " ".join(text.split())
    if not templates or len(text.split()) > max_words:
        return [text]
    return [template.replace("{}", text) for template in templates]


class TextEmbedder:
    """Unit text embeddings with templates applied.

    Each filled prompt goes through the shared text cache (an LRU that also batches
    concurrent misses into one forward, search/text_cache.py), so pages of one query and
    repeated queries re-embed nothing.
    """

    def __init__(self, max_words: int, max_chars: int, cache: TextEmbeddingCache | None = None) -> None:
        self.max_words = max_words
        self.max_chars = max_chars
        self.cache = cache or TextEmbeddingCache()

    def embed(self, encoder: Encoder, text: str, templates: Sequence[str]) -> np.ndarray:
        # Every text of every search and region query passes here: one place for its bound.
        if len(text) > self.max_chars:
            raise InvalidRequest(f"query texts are limited to {self.max_chars} characters")
        prompts = prompts_for(text, templates, self.max_words)
        vectors = np.stack([self.cache.embed(encoder, prompt) for prompt in prompts])
        if len(prompts) == 1:
            return vectors[0]
        mean = vectors.mean(axis=0)
        return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
