"""The single index writer: merge what SQL says is searchable into a new index generation.

SQL is the source of truth. The writer brings the FAISS index in line with it: vectors of
images now `embedded` are added (after removing any older vector under the same id) and
ids whose images are no longer searchable are removed. Re-running it after a crash at any
point converges to the same index, with no id twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np
from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from pixseek.core.active_model import serving_model_keys
from pixseek.core.db import in_chunks, session_scope, utcnow
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import SEARCHABLE, Image, ImageStatus, ImageVector, vector_dim
from pixseek.index.vectors.factory import FLAT, add_vectors, build_index, needs_rebuild
from pixseek.index.vectors.manifest import Manifest
from pixseek.index.vectors.patch_sync import update_patch_index
from pixseek.index.vectors.store import IndexStore, index_ids
from pixseek.model.identity import ModelId

log = logging.getLogger(__name__)


@dataclass
class PublishResult:
    generation: int | None
    added: int
    removed: int
    count: int


def _vectors(session: Session, ids: list[int], dim: int, model: ModelId) -> tuple[np.ndarray, np.ndarray]:
    out_ids: list[int] = []
    chunks: list[np.ndarray] = []
    for part in in_chunks(ids):
        rows = session.execute(
            select(ImageVector.image_id, ImageVector.vector).where(
                ImageVector.image_id.in_(part), ImageVector.model == model.key
            )
        ).all()
        for image_id, blob in rows:
            out_ids.append(int(image_id))
            chunks.append(np.frombuffer(blob, dtype="<f4"))
    if not out_ids:
        return np.empty(0, dtype=np.int64), np.empty((0, dim), dtype=np.float32)
    return np.asarray(out_ids, dtype=np.int64), np.vstack(chunks).reshape(-1, dim)


def _publish(store: IndexStore, index: faiss.Index, params: dict[str, Any], model: ModelId, dim: int) -> int:
    """Publish `index` as the store's next generation (count and number filled in by the store)."""
    manifest = Manifest(
        model=model.name,
        pretrained=model.pretrained,
        dim=dim,
        count=0,
        generation=0,
        index_type=str(params.get("description", FLAT)),
        params=params,
    )
    return store.publish(index, manifest)


def publish_index(
    settings: Settings, model: ModelId, empty_dim: Callable[[], int] | None = None
) -> PublishResult:
    """Bring the index in line with the catalog and publish a generation if anything changed.

    Small changes are applied in place (remove stale and refreshed ids, add new vectors).
    The index is built from scratch when there is none, when the model changed, or when
    the collection has outgrown (or shrunk out of) its index type: see `index.factory`.
    `empty_dim` gives the width for an empty index when no vector exists yet (an empty
    bucket); otherwise the width comes from the stored vectors. A rebuild reads every
    searchable vector from SQL, so it holds the whole collection in memory twice for a
    moment (2 KiB a vector at dim 512: ~4 GiB at a million images).
    """
    store = IndexStore(settings.index_dir)
    flat_max = settings.index_flat_max
    # Around a `pixseek reindex` switch a row may still carry the other model of the pair:
    # both hold a vector of each, and `_vectors` takes this model's.
    labels = serving_model_keys(settings) if ModelId.of(settings) == model else [model.key]
    with store.lock(), session_scope(settings) as session:
        loaded = store.load(mmap=False)
        # The dimension comes from the vectors themselves (or the index they went into): the
        # writer never loads the model just to learn a number.
        dim = vector_dim(session, model.key) or (loaded.manifest.dim if loaded is not None else None)
        if dim is None:
            if empty_dim is None:
                return PublishResult(generation=None, added=0, removed=0, count=0)
            dim = empty_dim()  # no vector anywhere yet: publish an empty index of the model's width
        if loaded is not None and (loaded.manifest.model_id != model or loaded.manifest.dim != dim):
            log.warning("index.model_changed old=%s new=%s: rebuilding", loaded.manifest.model_id, model)
            loaded = None
        searchable = np.asarray(
            session.scalars(
                select(Image.id).where(Image.status.in_(list(SEARCHABLE)), Image.model.in_(labels))
            ).all(),
            dtype=np.int64,
        )
        to_add_ids = sorted(
            session.scalars(
                select(Image.id).where(Image.status == ImageStatus.EMBEDDED, Image.model.in_(labels))
            ).all()
        )
        present = index_ids(loaded.index) if loaded is not None else np.empty(0, dtype=np.int64)
        stale = np.setdiff1d(present, searchable, assume_unique=False)
        if loaded is None or needs_rebuild(loaded.manifest.params, len(searchable), flat_max=flat_max):
            if loaded is not None:
                log.info(
                    "index.rebuild from=%s count=%d",
                    loaded.manifest.params.get("description", loaded.manifest.index_type),
                    len(searchable),
                )
            # A new index takes every searchable vector, not only the newly embedded ones.
            all_ids, vectors = _vectors(session, sorted(int(i) for i in searchable), dim, model)
            index, params = build_index(vectors, all_ids, flat_max=flat_max)
            del vectors
            added = len(all_ids) if loaded is None else len(np.intersect1d(all_ids, to_add_ids))
            changed = True
        else:
            index, params = loaded.index, loaded.manifest.params
            refresh = np.intersect1d(present, np.asarray(to_add_ids, dtype=np.int64))
            to_remove = np.union1d(stale, refresh)
            if to_remove.size:
                index.remove_ids(faiss.IDSelectorBatch(to_remove))
            add_ids, vectors = _vectors(session, to_add_ids, dim, model)
            add_vectors(index, vectors, add_ids)
            added = int(add_ids.size)
            changed = bool(add_ids.size or stale.size)
        generation = loaded.manifest.generation if loaded is not None else None
        if changed:
            generation = _publish(store, index, params, model, dim)
        # Region search (issue 6): the patch index follows the same catalog state, under the same lock.
        update_patch_index(settings, session, model, dim, generation, labels=labels)
        if to_add_ids:
            session.execute(
                update(Image)
                .where(Image.id.in_(to_add_ids), Image.status == ImageStatus.EMBEDDED)
                .values(status=ImageStatus.INDEXED, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        return PublishResult(
            generation=generation,
            added=added,
            removed=len(stale),
            count=int(index.ntotal),
        )


def publish_patches(settings: Settings, model: ModelId, refresh: list[int], enriching: int = 0) -> int | None:
    """Publish the patch index with the patches of `refresh` read again; its generation.

    For the enrich job (ingest/enrich.py), which rewrites the patch files of searchable
    images (whole-picture grids for centre-crop ones) and changes nothing the CLS index holds.
    Under the writer's lock, like every publication.
    """
    store = IndexStore(settings.index_dir)
    labels = serving_model_keys(settings) if ModelId.of(settings) == model else [model.key]
    with store.lock(), session_scope(settings) as session:
        current = store.manifest()
        dim = vector_dim(session, model.key) or (current.dim if current is not None else None)
        if dim is None:
            return None
        generation = current.generation if current is not None else None
        result = update_patch_index(
            settings, session, model, dim, generation, labels=labels, refresh=refresh, enriching=enriching
        )
        return result.generation


def staged_members(session: Session, model: ModelId) -> list[int]:
    """Searchable images holding a vector of `model` made from their current bytes."""
    return sorted(
        int(i)
        for i in session.scalars(
            select(Image.id)
            .join(
                ImageVector,
                and_(
                    ImageVector.image_id == Image.id,
                    ImageVector.model == model.key,
                    ImageVector.sha256 == Image.sha256,
                ),
            )
            .where(Image.status.in_(list(SEARCHABLE)))
        ).all()
    )


def publish_staged(settings: Settings, model: ModelId, dim: int, grid: tuple[int, int]) -> PublishResult:
    """Build a model generation's CLS and patch indexes afresh, before it is served.

    For `pixseek reindex`: `settings` name the new generation (its model and folder); its
    members are the searchable images that hold a vector of `model` for their current
    bytes, whatever model the catalog serves them with today. Nothing in the catalog
    changes. Holds the new generation's writer lock, never the served one's.
    """
    store = IndexStore(settings.index_dir)
    with store.lock(), session_scope(settings) as session:
        ids = staged_members(session, model)
        all_ids, vectors = _vectors(session, ids, dim, model)
        index, params = build_index(vectors, all_ids, flat_max=settings.index_flat_max)
        del vectors
        generation = _publish(store, index, params, model, dim)
        members: list[tuple[int, str, int | None, int | None]] = [
            (int(i), str(ImageStatus.INDEXED), grid[0], grid[1]) for i in all_ids
        ]
        update_patch_index(settings, session, model, dim, generation, members=members)
        return PublishResult(generation=generation, added=len(all_ids), removed=0, count=int(index.ntotal))
