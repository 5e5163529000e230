"""The index writer keeps FAISS equal to the catalog when the index is IVF: adds, refreshes,
deletes, growth past the retrain threshold and shrinking back to exact search."""

from __future__ import annotations

import numpy as np
from sqlalchemy import update

from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.evaluation.synthetic import clustered
from pixseek.index.catalog.images import Image, ImageStatus, ImageVector
from pixseek.index.vectors.factory import REBUILD_GROWTH, stored_ids
from pixseek.index.vectors.store import IndexStore, LoadedIndex
from pixseek.index.vectors.writer import publish_index
from pixseek.model.identity import ModelId

MODEL, PRETRAINED, DIM = "pixseek-tiny", "none", 16
MODEL_ID = f"{MODEL}/{PRETRAINED}"


def _embed(settings: Settings, vectors: dict[int, np.ndarray], *, new: bool) -> None:
    """Catalog rows `embedded` with these vectors, as the ingest service leaves them."""
    with session_scope(settings) as session:
        for image_id, vector in vectors.items():
            if new:
                session.add(Image(id=image_id, bucket="b", key=f"{image_id}.png", model=MODEL_ID))
            session.execute(
                update(Image).where(Image.id == image_id).values(status=ImageStatus.EMBEDDED, model=MODEL_ID)
            )
            session.merge(
                ImageVector(
                    image_id=image_id,
                    model=MODEL_ID,
                    dim=DIM,
                    sha256=f"{image_id:064d}",
                    vector=vector.astype("<f4").tobytes(),
                )
            )


def _delete(settings: Settings, ids: list[int]) -> None:
    with session_scope(settings) as session:
        session.execute(update(Image).where(Image.id.in_(ids)).values(status=ImageStatus.DELETED))


def _searchable(settings: Settings) -> list[int]:
    with session_scope(settings) as session:
        rows = session.query(Image.id).filter(Image.status.in_([ImageStatus.INDEXED, ImageStatus.EMBEDDED]))
        return sorted(int(r[0]) for r in rows)


def _loaded(settings: Settings) -> LoadedIndex:
    loaded = IndexStore(settings.index_dir).load()
    assert loaded is not None
    return loaded


def test_ivf_writer_adds_refreshes_and_deletes_without_duplicates(settings: Settings) -> None:
    settings = settings.model_copy(update={"index_flat_max": 300})
    x = clustered(1_200, DIM, seed=11)
    _embed(settings, {i + 1: x[i] for i in range(600)}, new=True)
    first = publish_index(settings, ModelId(MODEL, PRETRAINED))
    loaded = _loaded(settings)
    assert loaded.manifest.params["kind"] == "ivf" and loaded.manifest.index_type.startswith("IVF")
    assert first.added == 600 and loaded.ntotal == 600
    trained_on = loaded.manifest.params["trained_on"]

    # Delete 50, re-embed 30 with new vectors, add 40 new images.
    _delete(settings, list(range(1, 51)))
    refreshed = {i: x[1_000 + i] for i in range(100, 130)}
    _embed(settings, refreshed, new=False)
    _embed(settings, {i + 1: x[i] for i in range(600, 640)}, new=True)
    second = publish_index(settings, ModelId(MODEL, PRETRAINED))
    loaded = _loaded(settings)
    ids = stored_ids(loaded.index)
    assert len(ids) == len(set(ids.tolist())), "an id is in the index twice"
    assert sorted(ids.tolist()) == _searchable(settings)
    assert second.removed == 50 and second.added == 70
    assert loaded.manifest.params["trained_on"] == trained_on, "a small change must not retrain"
    # A refreshed image is found by its new vector, a deleted one not at all.
    _, found = loaded.search(np.stack([refreshed[105]]), 1)
    assert found[0, 0] == 105
    _, found = loaded.search(x[:10], 10)
    assert not set(found.ravel().tolist()) & set(range(1, 51))


def test_ivf_writer_retrains_on_growth_and_returns_to_exact(settings: Settings) -> None:
    settings = settings.model_copy(update={"index_flat_max": 100})
    x = clustered(1_000, DIM, seed=12)
    _embed(settings, {i + 1: x[i] for i in range(80)}, new=True)
    publish_index(settings, ModelId(MODEL, PRETRAINED))
    assert _loaded(settings).manifest.params["kind"] == "flat"

    _embed(settings, {i + 1: x[i] for i in range(80, 150)}, new=True)
    publish_index(settings, ModelId(MODEL, PRETRAINED))
    params = _loaded(settings).manifest.params
    assert params["kind"] == "ivf" and params["trained_on"] == 150

    grown = int(REBUILD_GROWTH * 150) + 1
    _embed(settings, {i + 1: x[i] for i in range(150, grown)}, new=True)
    publish_index(settings, ModelId(MODEL, PRETRAINED))
    loaded = _loaded(settings)
    assert loaded.manifest.params["trained_on"] == grown
    assert sorted(stored_ids(loaded.index).tolist()) == list(range(1, grown + 1))

    _delete(settings, list(range(30, grown + 1)))
    publish_index(settings, ModelId(MODEL, PRETRAINED))
    loaded = _loaded(settings)
    assert loaded.manifest.params["kind"] == "flat"
    assert sorted(stored_ids(loaded.index).tolist()) == list(range(1, 30))
