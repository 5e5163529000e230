"""Filtered search on an IVF index keeps recall@10 >= 0.95 against brute force, through
`SearchService.search` (the production path), above and below `search_exact_max`."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import insert

from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.evaluation.synthetic import clustered
from pixseek.index.catalog.images import Image, ImageStatus, ImageVector
from pixseek.index.vectors.factory import RECALL_TARGET, recall_at_k
from pixseek.index.vectors.store import IndexStore
from pixseek.index.vectors.writer import publish_index
from pixseek.model.identity import ModelId
from pixseek.search.filters import Filters
from pixseek.search.query import Query, VectorPart
from pixseek.search.service import SearchService

N, DIM, QUERIES, K = 20_000, 64, 30, 10
SELECTIVITIES = (0.001, 0.01, 0.1, 0.5)


def _catalog(settings: Settings) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """N clustered vectors (ids 1..N) and queries held out from the same distribution.

    `size` is a random permutation of 0..N-1 (`max_size` keeps a random fraction); `width`
    ranks the images by closeness to one direction (`max_width` keeps a fraction that sits
    in a few clusters, the hard case for IVF).
    """
    data = clustered(N + QUERIES, DIM, seed=21)
    vectors, queries = data[:N], data[N:]
    rng = np.random.default_rng(22)
    sizes = rng.permutation(N)
    widths = np.empty(N, dtype=np.int64)
    widths[np.argsort(-(vectors @ vectors[123]))] = np.arange(N)
    model = ModelId.of(settings).key
    with session_scope(settings) as session:
        for start in range(0, N, 5_000):
            rows = range(start, min(N, start + 5_000))
            session.execute(
                insert(Image),
                [
                    {"id": i + 1, "bucket": "/b", "key": f"{i:05d}.png", "size": int(sizes[i])}
                    | {"width": int(widths[i]), "status": ImageStatus.EMBEDDED, "model": model}
                    for i in rows
                ],
            )
            session.execute(
                insert(ImageVector),
                [
                    {"image_id": i + 1, "model": model, "dim": DIM, "sha256": f"{i:064x}"}
                    | {"vector": vectors[i].astype("<f4").tobytes()}
                    for i in rows
                ],
            )
    publish_index(settings, ModelId.of(settings))
    return vectors, queries, sizes, widths


def _truth(vectors: np.ndarray, keep: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Ids (positions + 1) of the exact top-K among the kept vectors, brute force in float64."""
    positions = np.flatnonzero(keep)
    scores = queries.astype(np.float64) @ vectors[positions].astype(np.float64).T
    return positions[np.argsort(-scores, axis=1)[:, :K]] + 1


@pytest.mark.slow
def test_filtered_search_on_ivf_keeps_recall_at_every_selectivity(settings: Settings) -> None:
    settings = settings.model_copy(update={"index_flat_max": 2_000, "search_exact_max": 50})
    vectors, queries, sizes, widths = _catalog(settings)
    loaded = IndexStore(settings.index_dir).load()
    assert loaded is not None and loaded.manifest.params["kind"] == "ivf"
    assert loaded.manifest.params["nprobe"] < loaded.manifest.params["nlist"] // 8
    # search_exact_max 50: the 0.1% filters (20 images) are scored from the stored vectors,
    # the others go through the index; with 0, the 0.1% filters go through the index too.
    services = {m: SearchService(settings.model_copy(update={"search_exact_max": m})) for m in (50, 0)}
    for selectivity in SELECTIVITIES:
        keep = int(N * selectivity)
        for exact_max in (50, 0) if keep <= 50 else (50,):
            service = services[exact_max]
            for column, values, filters in (
                ("size", sizes, Filters(max_size=keep - 1)),
                ("width", widths, Filters(max_width=keep - 1)),
            ):
                truth = _truth(vectors, values < keep, queries)
                found = np.full((QUERIES, K), -1, dtype=np.int64)
                with session_scope(settings) as session:
                    for i, q in enumerate(queries):
                        page = service.search(
                            session, Query(parts=(VectorPart(q),), filters=filters, limit=K)
                        )
                        found[i, : len(page.hits)] = [h.id for h in page.hits]
                recall = recall_at_k(found, truth)
                where = (
                    f"{column} filter keeping {selectivity:.1%} ({keep} images), search_exact_max={exact_max}"
                )
                assert recall >= RECALL_TARGET, f"recall@10 {recall:.3f} with a {where}"
