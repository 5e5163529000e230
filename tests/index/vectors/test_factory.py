"""Index selection by size, IVF recall against brute force, parameters through the manifest."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from pixseek.evaluation.synthetic import clustered
from pixseek.index.vectors.factory import (
    EXHAUSTIVE_FRACTION,
    FILTER_PROBE_GAIN,
    FLAT,
    RECALL_TARGET,
    _top_k_exact,
    apply_params,
    build_index,
    filtered_nprobe,
    filtered_search_params,
    id_selector,
    needs_rebuild,
    plan_for,
    recall_at_k,
    spherical_kmeans,
    stored_ids,
)
from pixseek.index.vectors.manifest import Manifest
from pixseek.index.vectors.store import IndexStore


def test_plan_for_picks_exact_below_threshold_and_ivf_above() -> None:
    assert plan_for(10_000).description == FLAT
    assert plan_for(49_999).kind == "flat"
    big = plan_for(1_000_000)
    assert big.kind == "ivf" and big.nlist == 2048 and not big.hnsw_quantizer
    assert plan_for(100_000_000).hnsw_quantizer
    assert plan_for(300, flat_max=100).nlist == 64


def test_needs_rebuild_on_growth_and_shrink() -> None:
    assert not needs_rebuild({}, 10, flat_max=100)
    assert needs_rebuild({}, 100, flat_max=100)
    ivf = {"kind": "ivf", "trained_on": 1000}
    assert not needs_rebuild(ivf, 3000, flat_max=100)
    assert needs_rebuild(ivf, 4001, flat_max=100)
    assert needs_rebuild(ivf, 49, flat_max=100)


def test_exact_index_for_small_collections() -> None:
    x = clustered(500, 32, seed=3)
    index, params = build_index(x, np.arange(500) + 10)
    assert params == {"kind": "flat"}
    _, ids = index.search(x[:5], 1)
    assert ids[:, 0].tolist() == [10, 11, 12, 13, 14]


def test_forced_ivf_reaches_recall_target_against_brute_force() -> None:
    x = clustered(6_000, 64, seed=4)
    base, held_out = x[:5_500], x[5_500:]
    ids = np.arange(len(base), dtype=np.int64) * 3 + 7
    index, params = build_index(base, ids, flat_max=1_000)
    assert params["kind"] == "ivf"
    assert params["nlist"] == 128 and 1 <= params["nprobe"] <= 128
    assert params["recall_at_10"] >= RECALL_TARGET
    truth = ids[_top_k_exact(base, held_out, 10)]
    _, found = index.search(held_out, 10)
    assert recall_at_k(found, truth) >= RECALL_TARGET
    assert sorted(stored_ids(index).tolist()) == ids.tolist()


def test_top_k_exact_matches_faiss_brute_force() -> None:
    x = clustered(3_000, 32, seed=5)
    q = x[:20]
    _, expected = faiss.knn(q, x, 5, faiss.METRIC_INNER_PRODUCT)
    assert np.array_equal(_top_k_exact(x, q, 5), expected)


def test_spherical_kmeans_gives_unit_centroids() -> None:
    x = clustered(2_000, 16, seed=6)
    centroids = spherical_kmeans(x, 32, 5, np.random.default_rng(0))
    assert centroids.shape == (32, 16)
    assert np.allclose(np.linalg.norm(centroids, axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError):
        spherical_kmeans(x[:10], 32, 5, np.random.default_rng(0))


def test_params_round_trip_through_manifest_and_apply_at_load(tmp_path: Path) -> None:
    x = clustered(3_000, 32, seed=8)
    index, params = build_index(x, np.arange(3_000), flat_max=1_000)
    store = IndexStore(tmp_path / "index")
    manifest = Manifest(
        model="m",
        pretrained="none",
        dim=32,
        count=0,
        generation=0,
        index_type=params["description"],
        params=params,
    )
    with store.lock():
        generation = store.publish(index, manifest)
    read = Manifest.read(store.generation_dir(generation) / "manifest.json")
    assert read.params == params and read.index_type == params["description"]
    for mmap in (False, True):
        loaded = store.load(mmap=mmap)
        assert loaded is not None and loaded.mmapped is mmap
        assert faiss.extract_index_ivf(loaded.index).nprobe == params["nprobe"]
        _, expected = index.search(x[:10], 5)
        _, found = loaded.search(x[:10], 5)
        assert np.array_equal(found, expected)


def test_apply_params_ignores_exact_indexes() -> None:
    index, params = build_index(clustered(100, 8), np.arange(100))
    apply_params(index, params)  # nothing to set on a flat index
    assert stored_ids(index).tolist() == list(range(100))


def test_filtered_ivf_search_finds_the_top_k_among_few_allowed_ids() -> None:
    x = clustered(6_000, 32, seed=9)
    ids = np.arange(6_000, dtype=np.int64)
    index, params = build_index(x, ids, flat_max=1_000)
    queries = x[1:60:3]
    for step in (100, 10, 2):  # filters keeping 1%, 10% and 50% of the collection
        allowed = ids[::step]
        search_params = filtered_search_params(index, allowed)
        assert isinstance(search_params, faiss.SearchParametersIVF)
        assert search_params.nprobe == filtered_nprobe(params["nprobe"], params["nlist"], 1 / step)
        _, found = index.search(queries, 10, params=search_params)
        truth = allowed[_top_k_exact(x[allowed], queries, 10)]
        assert (found >= 0).all() and set(found.ravel().tolist()) <= set(allowed.tolist())
        assert recall_at_k(found, truth) >= RECALL_TARGET


def test_filtered_nprobe_grows_with_selectivity_up_to_every_list() -> None:
    assert filtered_nprobe(16, 2048, 1.0) == 16 * FILTER_PROBE_GAIN
    assert filtered_nprobe(16, 2048, 0.5) == 16 * FILTER_PROBE_GAIN * 2
    assert filtered_nprobe(16, 2048, 0.25) == 16 * FILTER_PROBE_GAIN * 4
    assert filtered_nprobe(16, 2048, EXHAUSTIVE_FRACTION) == 2048
    assert filtered_nprobe(16, 2048, 0.01) == 2048
    assert filtered_nprobe(16, 2048, 0.0) == 2048
    assert filtered_nprobe(2048, 2048, 0.5) == 2048


def test_id_selector_is_a_bitmap_for_dense_ids_and_a_hash_set_for_sparse_ones() -> None:
    dense = np.arange(0, 1_000, 3, dtype=np.int64)
    selector, bitmap = id_selector(dense)
    assert isinstance(selector, faiss.IDSelectorBitmap) and bitmap is not None
    assert [selector.is_member(i) for i in range(8)] == [i % 3 == 0 for i in range(8)]
    assert not selector.is_member(1_000) and not selector.is_member(10**9)
    sparse = np.array([5, 10**9], dtype=np.int64)
    selector, bitmap = id_selector(sparse)
    assert isinstance(selector, faiss.IDSelectorBatch) and bitmap is None
    assert selector.is_member(10**9) and not selector.is_member(6)


def test_filtered_exact_search_uses_plain_parameters() -> None:
    x = clustered(500, 16, seed=10)
    index, _ = build_index(x, np.arange(500))
    search_params = filtered_search_params(index, np.array([3, 7], dtype=np.int64))
    assert type(search_params) is faiss.SearchParameters
    _, found = index.search(x[:1], 2, params=search_params)
    assert sorted(found[0].tolist()) == [3, 7]


def test_hnsw_coarse_quantiser_path_builds_searches_and_round_trips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pixseek.index.vectors.factory as factory

    monkeypatch.setattr(factory, "HNSW_QUANTIZER_MIN_LISTS", 64)
    x = clustered(4_000, 32, seed=13)
    ids = np.arange(4_000, dtype=np.int64) + 1
    index, params = build_index(x, ids, flat_max=1_000)
    assert params["quantizer"] == "hnsw" and params["description"].startswith("IVF128_HNSW32")
    assert params["recall_at_10"] >= RECALL_TARGET
    path = tmp_path / "hnsw.faiss"
    faiss.write_index(index, str(path))
    loaded = faiss.read_index(str(path))
    apply_params(loaded, params)
    quantizer = faiss.downcast_index(faiss.extract_index_ivf(loaded).quantizer)
    assert isinstance(quantizer, faiss.IndexHNSW) and quantizer.hnsw.efSearch == params["ef_search"]
    truth = ids[_top_k_exact(x, x[:40], 10)]
    _, found = loaded.search(x[:40], 10)
    assert recall_at_k(found, truth) >= RECALL_TARGET
    # Filtered to 1%: every list is probed, so the HNSW quantiser is asked for every list
    # (its own efSearch would stop at about efSearch of them on a large graph).
    quantizer.hnsw.efSearch = 16
    allowed = ids[::100]
    search_params = filtered_search_params(loaded, allowed)
    assert search_params.nprobe == 128
    kept = [p for p in search_params.referenced_objects if isinstance(p, faiss.SearchParametersHNSW)]
    assert [p.efSearch for p in kept] == [128]
    _, found = loaded.search(x[:40], 10, params=search_params)
    truth = allowed[_top_k_exact(x[::100], x[:40], 10)]
    assert recall_at_k(found, truth) >= RECALL_TARGET
