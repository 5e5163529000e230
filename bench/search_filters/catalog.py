"""The filtered-search benchmark's inputs: clustered vectors, a SQLite catalog, an IVF index.

At 1M x 512 the vectors are 2 GiB (cached as .npy under bench/out/search_filters/ and
memory-mapped on later runs), the catalog ~2.3 GiB (images and their stored vectors, as the
ingest leaves them) and the IVF-SQ8 index ~0.5 GiB; all three are built once and reused.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from sqlalchemy import insert

from bench.search.data import cached, clustered
from pixseek.core.db import dispose_engines, ensure_schema, session_scope
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image, ImageStatus, ImageVector
from pixseek.index.vectors.factory import build_index
from pixseek.index.vectors.manifest import Manifest
from pixseek.index.vectors.store import IndexStore

MODEL, PRETRAINED = "bench", "none"
INSERT_CHUNK = 20_000
HELD_OUT = 500  # vectors generated after the collection, for queries


def vectors(folder: Path | None, n: int, dim: int) -> np.ndarray:
    """`n` collection vectors followed by `HELD_OUT` from the same distribution (as bench.search)."""
    if folder is None:
        return clustered(n + HELD_OUT, dim, seed=n)
    return cached(folder / f"vectors-{n}x{dim}.npy", n + HELD_OUT, dim, seed=n)


def far_queries(near: np.ndarray, seed: int) -> np.ndarray:
    """The held-out queries moved further off the data (cosine ~0.7 to where they were)."""
    rng = np.random.default_rng(seed)
    far = near + rng.standard_normal(near.shape).astype(np.float32) * np.float32(1 / math.sqrt(near.shape[1]))
    return (far / np.linalg.norm(far, axis=1, keepdims=True)).astype(np.float32)


def settings_for(data_dir: Path, exact_max: int) -> Settings:
    """Settings for the benchmark's own SQLite catalog, whatever the environment says."""
    return Settings(
        data_dir=data_dir,
        database_url=None,
        model=MODEL,
        pretrained=PRETRAINED,
        device="cpu",
        search_exact_max=exact_max,
    )


def build_catalog(
    data_dir: Path, base: np.ndarray, sizes: np.ndarray, flat_max: int, index_cache: Path | None
) -> dict[str, Any]:
    """Catalog rows (ids 1..n, `size` = `sizes`) with stored vectors, and the index published.

    The index is what `index.factory.build_index` picks for n vectors (IVF-SQ8 above
    `flat_max`), cached at `index_cache` when given. Returns the index's manifest params.
    """
    marker = data_dir / ".complete"
    settings = settings_for(data_dir, 0)
    if marker.exists():
        loaded = IndexStore(settings.index_dir).load(mmap=True)
        assert loaded is not None, f"{data_dir} is marked complete but has no index"
        return loaded.manifest.params
    n, dim = base.shape
    ensure_schema(settings)
    model = f"{MODEL}/{PRETRAINED}"
    for start in range(0, n, INSERT_CHUNK):
        rows = range(start, min(n, start + INSERT_CHUNK))
        block = np.asarray(base[start : start + INSERT_CHUNK], dtype="<f4")
        with session_scope(settings) as session:
            session.execute(
                insert(Image),
                [
                    {"id": i + 1, "bucket": "/bench", "key": f"img/{i:08d}.jpg", "size": int(sizes[i])}
                    | {"status": ImageStatus.INDEXED, "model": model}
                    for i in rows
                ],
            )
            session.execute(
                insert(ImageVector),
                [
                    {"image_id": i + 1, "model": model, "dim": dim, "sha256": f"{i:064x}"}
                    | {"vector": block[i - start].tobytes()}
                    for i in rows
                ],
            )
    index, params = _index(base, flat_max, index_cache)
    manifest = Manifest(
        model=MODEL,
        pretrained=PRETRAINED,
        dim=dim,
        count=0,
        generation=0,
        index_type=str(params.get("description", "IDMap2,Flat")),
        params=params,
    )
    store = IndexStore(settings.index_dir)
    with store.lock():
        store.publish(index, manifest)
    dispose_engines()
    marker.touch()
    return params


def _index(base: np.ndarray, flat_max: int, cache: Path | None) -> tuple[faiss.Index, dict[str, Any]]:
    meta = cache.with_suffix(".json") if cache is not None else None
    if cache is not None and meta is not None and cache.exists() and meta.exists():
        return faiss.read_index(str(cache)), json.loads(meta.read_text(encoding="utf-8"))
    start = time.perf_counter()
    index, params = build_index(base, np.arange(1, len(base) + 1, dtype=np.int64), flat_max=flat_max)
    params["build_s"] = round(time.perf_counter() - start, 1)
    if cache is not None and meta is not None:
        faiss.write_index(index, str(cache))
        meta.write_text(json.dumps(params), encoding="utf-8")
    return index, params
