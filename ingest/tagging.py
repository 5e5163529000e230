"""Zero-shot tags: score stored CLS vectors against the vocabulary's prompts, never re-embedding an image.

A category's text embedding is the normalised mean of its prompts in its templates. For an
image vector `x`, every category `c` and background prompt `b` gets the logit
`scale * cos(x, t)` (`scale`: the model's own logit scale), and the tag score is the softmax
probability of `c` among all of them; the image carries tag `c` when that probability
reaches the category's threshold. docs/search.md says why this rule (measured against a
single cosine threshold and a per-category z-score in bench/tags.py).

Runs when an ingest is published (`finalize_job`), and for the whole catalog when the
vocabulary, a threshold or the model changes (`pixseek tags apply`, or the next ingest):
only images whose recorded digest or file hash differ are scored, in batches, each
committed, so an interrupted run resumes where it stopped.

The index writer never loads the model: the prompts' text embeddings are computed where the
model already is (`process_images` calls `ensure_prompt_vectors` before its first batch, and
`pixseek tags apply | preview` embed them) and kept in SQL; `finalize_job` only reads them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pixseek.core.db import session_scope
from pixseek.core.locks import file_lock
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import SEARCHABLE, Image, ImageVector
from pixseek.index.catalog.tags import (
    ImageTagState,
    TagVocabulary,
    get_prompt_vectors,
    put_prompt_vectors,
    replace_tags,
)
from pixseek.index.catalog.vocabulary import Vocabulary, VocabularyError, load_vocabulary
from pixseek.model.encoder import get_encoder
from pixseek.model.identity import ModelId

log = logging.getLogger(__name__)

TEXT_BATCH = 256  # texts per forward of the text tower


@dataclass(frozen=True)
class PromptVectors:
    """The vocabulary in the embedding space: category rows first, then background rows."""

    names: list[str]  # categories
    thresholds: np.ndarray  # (C,)
    vectors: np.ndarray  # (C + B, D) unit rows
    scale: float

    def score(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probability, cosine) per image and category, both (N, C).

        Memory: two (N, C + B) float64 blocks; callers pass batches of `tags.batch_size`.
        """
        sims = np.asarray(images, dtype=np.float64) @ self.vectors.T.astype(np.float64)
        logits = self.scale * sims
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        c = len(self.names)
        return probs[:, :c], sims[:, :c]


@dataclass
class TagRun:
    scored: int = 0
    tagged: int = 0  # images that got at least one tag
    digest: str = ""
    waiting: bool = False  # images need scoring but the prompts are not embedded yet

    def as_dict(self) -> dict[str, object]:
        return {
            "scored": self.scored,
            "tagged": self.tagged,
            "vocabulary": self.digest,
            "waiting": self.waiting,
        }


def current_vocabulary(settings: Settings) -> Vocabulary:
    return load_vocabulary(settings.tag_vocabulary_file)


def _embed_prompts(settings: Settings, vocabulary: Vocabulary) -> tuple[np.ndarray, float]:
    encoder = get_encoder(settings)
    texts = [t for c in vocabulary.categories for t in c.texts()] + list(vocabulary.background)
    parts = [encoder.encode_texts(texts[i : i + TEXT_BATCH]) for i in range(0, len(texts), TEXT_BATCH)]
    flat = np.concatenate(parts).astype(np.float64)
    rows, start = [], 0
    for category in vocabulary.categories:
        n = len(category.texts())
        rows.append(flat[start : start + n].mean(axis=0))  # CLIP's prompt ensembling
        start += n
    rows.extend(flat[start:])
    vectors = np.stack(rows)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors.astype(np.float32), encoder.logit_scale


def _stored_prompts(settings: Settings, digest: str) -> tuple[np.ndarray, float] | None:
    with session_scope(settings) as session:
        row = get_prompt_vectors(session, digest)
        if row is None:
            return None
        return np.frombuffer(row.vectors, dtype="<f4").reshape(len(row.names), row.dim), row.scale


def _store_prompts(
    settings: Settings, vocabulary: Vocabulary, digest: str, vectors: np.ndarray, scale: float
) -> None:
    names = vocabulary.names + [""] * len(vocabulary.background)
    row = TagVocabulary(
        prompt_digest=digest,
        model=ModelId.of(settings).key,
        names=names,
        dim=int(vectors.shape[1]),
        scale=scale,
        vectors=vectors.astype("<f4").tobytes(),
    )
    try:
        with session_scope(settings) as session:
            put_prompt_vectors(session, row)
    except IntegrityError:
        log.debug("tags.prompts_stored_by_another_process digest=%s", digest[:12])
    log.info("tags.prompts_embedded categories=%d texts=%d", len(vocabulary.names), len(names))


def prompt_vectors(settings: Settings, vocabulary: Vocabulary, *, embed: bool = True) -> PromptVectors | None:
    """The vocabulary's text embeddings: from SQL when this vocabulary was embedded before.

    Args:
        embed: run the text tower when they are not stored yet; without it, None then.
    """
    digest = vocabulary.prompt_digest(ModelId.of(settings).key)
    stored = _stored_prompts(settings, digest)
    if stored is not None:
        vectors, scale = stored
    elif embed:
        vectors, scale = _embed_prompts(settings, vocabulary)
        _store_prompts(settings, vocabulary, digest, vectors, scale)
    else:
        return None
    thresholds = np.array([c.threshold for c in vocabulary.categories], dtype=np.float64)
    return PromptVectors(vocabulary.names, thresholds, np.asarray(vectors, dtype=np.float32), float(scale))


def _stale_batch(
    session: Session, model: str, digest: str, after: int, limit: int
) -> list[tuple[int, str, bytes]]:
    """Searchable images of `model` not scored with `digest` (or scored for other bytes), by id."""
    state = ImageTagState
    stmt = (
        select(ImageVector.image_id, ImageVector.sha256, ImageVector.vector)
        .join(Image, Image.id == ImageVector.image_id)
        .outerjoin(state, state.image_id == ImageVector.image_id)
        .where(
            Image.status.in_(list(SEARCHABLE)),
            Image.model == model,
            ImageVector.model == model,
            ImageVector.image_id > after,
            or_(
                state.image_id.is_(None),
                state.vocabulary != digest,
                state.sha256 != ImageVector.sha256,
            ),
        )
        .order_by(ImageVector.image_id)
        .limit(limit)
    )
    return [(int(i), str(sha), bytes(blob)) for i, sha, blob in session.execute(stmt).all()]


def ensure_prompt_vectors(settings: Settings) -> None:
    """Embed the current vocabulary's prompts unless SQL has them (where the model is loaded anyway).

    A vocabulary file that cannot be used is logged, never raised: it must not stop an ingest.
    """
    try:
        prompt_vectors(settings, current_vocabulary(settings))
    except VocabularyError as exc:
        log.warning("tags.vocabulary_invalid: %s (images stay untagged)", exc.detail)


def tag_catalog(settings: Settings, *, embed_prompts: bool = True) -> TagRun:
    """Score every searchable image whose tags are missing or stale; returns what was done.

    Args:
        embed_prompts: load the model to embed the prompts when SQL lacks them; without it
            (the index writer) nothing is scored then, and `TagRun.waiting` says so.

    Raises:
        VocabularyError: the user's vocabulary file cannot be used.
    """
    vocabulary = current_vocabulary(settings)
    model = ModelId.of(settings).key
    digest = vocabulary.digest(model)
    run = TagRun(digest=digest)
    prompts: PromptVectors | None = None
    # One tagger per data dir: two would delete and insert the same rows at once.
    with file_lock(settings.data_dir / ".tags.lock"):
        after = 0
        while True:
            with session_scope(settings) as session:
                batch = _stale_batch(session, model, digest, after, settings.tags.batch_size)
            if not batch:
                break
            if prompts is None:  # the text tower runs only when there is something to score
                prompts = prompt_vectors(settings, vocabulary, embed=embed_prompts)
                if prompts is None:
                    run.waiting = True
                    log.info(
                        "tags.waiting: the vocabulary's prompts are not embedded yet (pixseek tags apply)"
                    )
                    break
            dim = prompts.vectors.shape[1]
            vectors = np.stack([np.frombuffer(blob, dtype="<f4") for _, _, blob in batch])
            if vectors.shape[1] != dim:
                raise ValueError(f"stored vectors have {vectors.shape[1]} dimensions, the prompts {dim}")
            probs, sims = prompts.score(vectors)
            passing = probs >= prompts.thresholds[None, :]
            rows = [
                (batch[i][0], prompts.names[j], float(probs[i, j]), float(sims[i, j]))
                for i, j in zip(*np.nonzero(passing), strict=True)
            ]
            with session_scope(settings) as session:
                replace_tags(session, digest, [(i, sha) for i, sha, _ in batch], rows)
            run.scored += len(batch)
            run.tagged += int(passing.any(axis=1).sum())
            after = batch[-1][0]
    if run.scored:
        log.info("tags.scored images=%d tagged=%d vocabulary=%s", run.scored, run.tagged, digest[:12])
    return run


@dataclass(frozen=True)
class PreviewHit:
    image_id: int
    bucket: str
    key: str
    score: float
    similarity: float
    tagged: bool


@dataclass(frozen=True)
class Preview:
    category: str
    threshold: float
    images: int  # searchable images scored
    caught: int  # of which reach the threshold
    hits: list[PreviewHit]  # the best-scoring images, best first

    def as_dict(self) -> dict[str, object]:
        return {
            "category": self.category,
            "threshold": self.threshold,
            "images": self.images,
            "caught": self.caught,
            "results": [
                {
                    "id": h.image_id,
                    "bucket": h.bucket,
                    "key": h.key,
                    "score": round(h.score, 6),
                    "similarity": round(h.similarity, 6),
                    "tagged": h.tagged,
                }
                for h in self.hits
            ],
        }


def preview(settings: Settings, name: str, *, limit: int = 20, threshold: float | None = None) -> Preview:
    """What one category catches over the whole catalog, scored now (nothing is written).

    `threshold` tries another threshold than the vocabulary's without changing it.
    """
    vocabulary = current_vocabulary(settings)
    category = vocabulary.get(name)
    prompts = prompt_vectors(settings, vocabulary)
    assert prompts is not None  # embedded when missing
    j = prompts.names.index(name)
    cut = category.threshold if threshold is None else threshold
    model = ModelId.of(settings).key
    best: list[tuple[float, int, float]] = []  # (score, id, similarity)
    images = caught = 0
    after = 0
    while True:
        with session_scope(settings) as session:
            rows = session.execute(
                select(ImageVector.image_id, ImageVector.vector)
                .join(Image, Image.id == ImageVector.image_id)
                .where(
                    Image.status.in_(list(SEARCHABLE)),
                    Image.model == model,
                    ImageVector.model == model,
                    ImageVector.image_id > after,
                )
                .order_by(ImageVector.image_id)
                .limit(settings.tags.batch_size)
            ).all()
        if not rows:
            break
        vectors = np.stack([np.frombuffer(blob, dtype="<f4") for _, blob in rows])
        probs, sims = prompts.score(vectors)
        images += len(rows)
        caught += int((probs[:, j] >= cut).sum())
        best.extend((float(probs[i, j]), int(rows[i][0]), float(sims[i, j])) for i in range(len(rows)))
        best = sorted(best, key=lambda b: (-b[0], b[1]))[:limit]
        after = int(rows[-1][0])
    with session_scope(settings) as session:
        keys = {
            int(i): (str(b), str(k))
            for i, b, k in session.execute(
                select(Image.id, Image.bucket, Image.key).where(Image.id.in_([b[1] for b in best]))
            )
        }
    hits = [PreviewHit(i, *keys[i], score, sim, score >= cut) for score, i, sim in best if i in keys]
    return Preview(name, cut, images, caught, hits)
