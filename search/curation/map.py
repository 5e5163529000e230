"""The map of the collection: every searchable image as a point in 2D, with what colours it
(cluster, duplicate group, top tag, bucket, year), computed as a job per index generation and cached.

The cache is `<data_dir>/maps/map-<generation>.npz`, written to a temporary name then
renamed; a map of another generation is stale and `current_map` says so (the web UI offers
to compute it again). Memory at 1M images: the vectors (2 GB at 512-d), the 50-d PCA
(200 MB) and t-SNE's neighbour graph (~90 neighbours per point: ~1 GB); at that size the
map uses PCA unless `tsne_max` allows more (docs/curation.md).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from pixseek.core.db import in_chunks, session_scope
from pixseek.core.errors import InvalidRequest, PixseekError
from pixseek.core.settings import Settings
from pixseek.index.catalog.duplicates import DuplicateGroup, DuplicateMember, GroupStatus
from pixseek.index.catalog.images import Image
from pixseek.index.catalog.tags import ImageTag
from pixseek.index.vectors.store import IndexStore
from pixseek.search.curation import algorithms, projection
from pixseek.search.curation.algorithms import Tick
from pixseek.search.curation.collection import load

log = logging.getLogger(__name__)

TSNE_MAX = 50_000  # above this many images the map is a PCA unless asked otherwise


class MapNotReady(PixseekError):
    status_code = 404
    code = "map_not_ready"


def _folder(settings: Settings) -> Path:
    return Path(settings.data_dir) / "maps"


def _generation(settings: Settings) -> int:
    return IndexStore(settings.index_dir).current_generation() or 0


def build_map(
    settings: Settings, method: str | None = None, tsne_max: int = TSNE_MAX, progress: Tick | None = None
) -> dict[str, Any]:
    """Compute the map of the current generation and cache it; a summary (method, count, seconds)."""
    if method is not None and method not in projection.METHODS:
        raise InvalidRequest(f"method must be one of {', '.join(projection.METHODS)}")
    started = time.perf_counter()
    generation = _generation(settings)
    with session_scope(settings) as session:
        coll = load(session, settings)
        n = len(coll)
        if not n:
            raise InvalidRequest("no searchable images to map: ingest a bucket first")
        group = np.full(n, -1, dtype=np.int64)
        for image_id, group_id in session.execute(
            select(DuplicateMember.image_id, DuplicateMember.group_id)
            .join(DuplicateGroup, DuplicateGroup.id == DuplicateMember.group_id)
            .where(DuplicateGroup.status != GroupStatus.DISMISSED)
        ):
            row = int(np.searchsorted(coll.ids, image_id))
            if row < n and coll.ids[row] == image_id:
                group[row] = int(group_id)
        tags, tag = _top_tags(session, coll.ids)
        buckets, bucket, years, year = _bucket_and_year(session, coll.ids)
    chosen = method or ("tsne" if n <= tsne_max and projection.tsne_available() else "pca")
    tick = progress or algorithms.quiet
    tick(0, 100, f"layout ({chosen})")
    xy = projection.project(coll.vectors, chosen, tick=tick)
    tick(95, 100, "clusters")
    k = max(2, min(24, round(math.sqrt(n / 4))))
    _, cluster = (
        algorithms.kmeans(coll.vectors, min(k, n), seed=0) if n >= 2 else (None, np.zeros(n, np.int64))
    )
    folder = _folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"map-{generation:08d}.npz"
    partial = folder / f".map-{generation:08d}.{os.getpid()}.npz"
    meta = {
        "generation": generation,
        "method": chosen,
        "count": n,
        "tags": tags,
        "buckets": buckets,
        "years": years,
    }
    np.savez(
        partial,
        ids=coll.ids,
        xy=xy,
        cluster=cluster.astype(np.int32),
        group=group,
        tag=tag,
        bucket=bucket,
        year=year,
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
    )
    os.replace(partial, path)
    for old in folder.glob("map-*.npz"):
        if old != path:
            old.unlink(missing_ok=True)
    seconds = round(time.perf_counter() - started, 2)
    log.info("curation.map generation=%d method=%s images=%d seconds=%s", generation, chosen, n, seconds)
    return {"generation": generation, "method": chosen, "count": n, "seconds": seconds}


def _top_tags(session: Any, ids: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The tag names, and each image's best-scoring tag as an index into them (-1: none)."""
    best: dict[int, tuple[float, str]] = {}
    for part in in_chunks(ids.tolist()):
        for image_id, name, score in session.execute(
            select(ImageTag.image_id, ImageTag.tag, ImageTag.score).where(ImageTag.image_id.in_(part))
        ):
            if image_id not in best or score > best[image_id][0]:
                best[int(image_id)] = (float(score), name)
    names = sorted({name for _, name in best.values()})
    index = {name: i for i, name in enumerate(names)}
    out = np.asarray([index[best[i][1]] if i in best else -1 for i in ids.tolist()], dtype=np.int32)
    return names, out


def _bucket_and_year(session: Any, ids: np.ndarray) -> tuple[list[str], np.ndarray, list[int], np.ndarray]:
    """Each image's bucket and year (of capture, else of ingest) as indexes into sorted lists."""
    rows: dict[int, tuple[str, int]] = {}
    for part in in_chunks(ids.tolist()):
        for image_id, bucket, captured, created in session.execute(
            select(Image.id, Image.bucket, Image.captured_at, Image.created_at).where(Image.id.in_(part))
        ):
            when = captured or created
            rows[int(image_id)] = (bucket, when.year if when is not None else -1)
    buckets = sorted({b for b, _ in rows.values()})
    years = sorted({y for _, y in rows.values() if y >= 0})
    b_index = {b: i for i, b in enumerate(buckets)}
    y_index = {y: i for i, y in enumerate(years)}
    bucket = np.asarray([b_index[rows[i][0]] for i in ids.tolist()], dtype=np.int32)
    year = np.asarray([y_index.get(rows[i][1], -1) for i in ids.tolist()], dtype=np.int32)
    return buckets, bucket, years, year


def current_map(settings: Settings) -> dict[str, Any]:
    """The cached map as the web UI draws it; `stale` when it was made for an older generation."""
    folder = _folder(settings)
    found = sorted(folder.glob("map-*.npz")) if folder.exists() else []
    if not found:
        raise MapNotReady("no map yet: compute one (`pixseek curate map` or POST /v1/curation/map)")
    with np.load(found[-1]) as data:
        meta = json.loads(bytes(data["meta"]).decode())
        xy = data["xy"]
        return {
            **meta,
            "stale": meta["generation"] != _generation(settings),
            "ids": data["ids"].tolist(),
            "x": np.round(xy[:, 0], 5).tolist(),
            "y": np.round(xy[:, 1], 5).tolist(),
            "cluster": data["cluster"].tolist(),
            "group": data["group"].tolist(),
            "tag": data["tag"].tolist(),
            "bucket": data["bucket"].tolist() if "bucket" in data else [0] * len(xy),
            "year": data["year"].tolist() if "year" in data else [-1] * len(xy),
        }
