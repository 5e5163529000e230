"""Index generations on disk: atomic publication, hot swaps, exact search, the writer."""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest
from sqlalchemy import update

from pixseek.core.db import session_scope
from pixseek.core.errors import ModelMismatch
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image, ImageStatus
from pixseek.index.vectors.factory import build_index
from pixseek.index.vectors.generations import CURRENT_FILE
from pixseek.index.vectors.manifest import Manifest
from pixseek.index.vectors.patch_store import PatchStore
from pixseek.index.vectors.store import (
    INDEX_FILE,
    MANIFEST_FILE,
    IndexHolder,
    IndexStore,
    index_ids,
)
from pixseek.index.vectors.writer import publish_index
from pixseek.ingest.run import run_ingest
from pixseek.model.identity import ModelId

DIM = 32


def unit_vectors(n: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def build(vectors: np.ndarray, ids: np.ndarray) -> faiss.Index:
    index, _ = build_index(vectors, ids)  # a flat index at this size, as the writer builds it
    return index


def manifest(dim: int = DIM) -> Manifest:
    return Manifest(model="pixseek-tiny", pretrained="none", dim=dim, count=0, generation=0)


def test_nothing_published_reads_as_none(tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "index")
    assert store.current_generation() is None
    assert store.load() is None
    assert IndexHolder(store).get() is None


def test_publish_writes_a_generation_then_points_current_at_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = IndexStore(tmp_path / "index")
    seen: list[tuple[int, bool, bool]] = []
    original = IndexStore._write_current

    def checking(self: IndexStore, generation: int) -> None:
        folder = self.generation_dir(generation)
        seen.append((generation, (folder / INDEX_FILE).is_file(), (folder / MANIFEST_FILE).is_file()))
        assert self.current_generation() == (generation - 1 or None)
        original(self, generation)

    monkeypatch.setattr(IndexStore, "_write_current", checking)
    vectors = unit_vectors(10)
    assert store.publish(build(vectors, np.arange(10, 20)), manifest()) == 1
    assert store.publish(build(vectors[:5], np.arange(5)), manifest()) == 2
    assert seen == [(1, True, True), (2, True, True)]
    assert json.loads((store.root / CURRENT_FILE).read_text()) == {"generation": 2}
    loaded = store.load()
    assert loaded is not None
    assert loaded.manifest.generation == 2 and loaded.manifest.count == 5 and loaded.ntotal == 5
    # No temp files or folders are left behind.
    assert sorted(p.name for p in store.root.iterdir()) == [
        CURRENT_FILE,
        "gen-00000001",
        "gen-00000002",
    ]


def test_failed_write_leaves_the_current_generation_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = IndexStore(tmp_path / "index")
    store.publish(build(unit_vectors(4), np.arange(4)), manifest())

    def broken(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(faiss, "write_index", broken)
    with pytest.raises(OSError, match="disk full"):
        store.publish(build(unit_vectors(8), np.arange(8)), manifest())
    assert store.current_generation() == 1
    assert not store.generation_dir(2).exists()
    assert not list(store.root.glob(".gen-*"))
    loaded = store.load()
    assert loaded is not None and loaded.ntotal == 4


def test_old_generations_are_pruned(tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "index")
    for n in range(1, 6):
        store.publish(build(unit_vectors(n), np.arange(n)), manifest())
    assert sorted(p.name for p in store.root.glob("gen-*")) == [
        "gen-00000003",
        "gen-00000004",
        "gen-00000005",
    ]


def test_holder_picks_up_a_new_generation(tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "index")
    holder = IndexHolder(store, check_interval=0.0)
    store.publish(build(unit_vectors(3), np.arange(3)), manifest())
    first = holder.get()
    assert first is not None and first.manifest.generation == 1
    assert holder.get() is first  # same generation: not reloaded
    store.publish(build(unit_vectors(7), np.arange(7)), manifest())
    second = holder.get()
    assert second is not None and second.manifest.generation == 2 and second.ntotal == 7
    # A search holding the old generation still works on it.
    assert first.index.search(unit_vectors(1, seed=9), 3)[1].shape == (1, 3)
    assert first.ntotal == 3


def test_holder_checks_at_most_once_per_interval(tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "index")
    store.publish(build(unit_vectors(3), np.arange(3)), manifest())
    holder = IndexHolder(store, check_interval=3600.0)
    first = holder.get()
    store.publish(build(unit_vectors(7), np.arange(7)), manifest())
    assert holder.get() is first


@pytest.mark.parametrize("mmap", [False, True])
def test_search_equals_brute_force_top_k(tmp_path: Path, mmap: bool) -> None:
    vectors = unit_vectors(500, seed=1)
    ids = np.random.default_rng(2).permutation(np.arange(1000, 1500)).astype(np.int64)
    store = IndexStore(tmp_path / "index")
    store.publish(build(vectors, ids), manifest())
    loaded = store.load(mmap=mmap)
    assert loaded is not None
    queries = unit_vectors(20, seed=3)
    k = 10
    scores, found = loaded.index.search(queries, k)
    brute = queries @ vectors.T
    for q in range(len(queries)):
        order = np.argsort(-brute[q])[:k]
        assert found[q].tolist() == ids[order].tolist()
        np.testing.assert_allclose(scores[q], brute[q, order], atol=1e-5)


def test_index_ids_lists_the_catalog_ids(tmp_path: Path) -> None:
    index = build(unit_vectors(3), np.array([7, 3, 11]))
    assert index_ids(index).tolist() == [7, 3, 11]
    assert index_ids(index).dtype == np.int64


def test_manifest_round_trip_and_model_check(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    written = manifest()
    written.count, written.generation = 12, 4
    data = json.loads(written.to_json())
    data["added_by_a_later_version"] = True
    path.write_text(json.dumps(data))
    read = Manifest.read(path)
    assert read == written
    read.check_model(ModelId("pixseek-tiny", "none"))
    with pytest.raises(ModelMismatch, match="re-index"):
        read.check_model(ModelId("ViT-B-32", "laion2b_s34b_b79k"))


def test_patch_store_round_trip(tmp_path: Path) -> None:
    store = PatchStore(tmp_path / "patches")
    grid = np.random.default_rng(0).standard_normal((4, 5, 8)).astype(np.float32)
    store.put(12345, grid)
    got = store.get(12345)
    assert got is not None and got.dtype == np.float16 and got.shape == (4, 5, 8)
    np.testing.assert_array_equal(got, grid.astype(np.float16))
    assert store.path(12345).parent.name == "000012"
    assert [p.name for p in store.path(12345).parent.iterdir()] == ["12345.npy"]
    store.delete(12345)
    store.delete(12345)  # twice is fine
    assert store.get(12345) is None
    with pytest.raises(ValueError, match="grid_h, grid_w, dim"):
        store.put(1, grid[0])


def test_writer_rerun_after_a_crash_adds_no_id_twice(settings: Settings, bucket: Path) -> None:
    run_ingest(settings, str(bucket))
    # As if the writer died after publishing but before marking the rows indexed.
    with session_scope(settings) as session:
        session.execute(update(Image).values(status=ImageStatus.EMBEDDED))
    result = publish_index(settings, ModelId("pixseek-tiny", "none"))
    assert result.count == 6
    loaded = IndexStore(settings.index_dir).load()
    assert loaded is not None
    ids = index_ids(loaded.index)
    assert len(ids) == len(set(ids.tolist())) == 6
    with session_scope(settings) as session:
        statuses = {row.status for row in session.query(Image)}
    assert statuses == {ImageStatus.INDEXED}


def test_writer_with_nothing_changed_publishes_nothing(settings: Settings, bucket: Path) -> None:
    run_ingest(settings, str(bucket))
    store = IndexStore(settings.index_dir)
    generation = store.current_generation()
    result = publish_index(settings, ModelId("pixseek-tiny", "none"))
    assert (result.generation, result.added, result.removed, result.count) == (generation, 0, 0, 6)
    assert store.current_generation() == generation
