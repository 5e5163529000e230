"""The patch index: id mapping, compressed recall against exact search, and the writer's upkeep."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import faiss
import numpy as np
import pytest

from pixseek.core.settings import Settings
from pixseek.index.vectors.manifest import PatchModeMismatch
from pixseek.index.vectors.patch_index import (
    EXACT_TYPE,
    build_index,
    choose_nlist,
    choose_pq_m,
    index_type,
    patch_ids,
    search_index,
    split_ids,
)
from pixseek.index.vectors.patch_sync import patch_index_store, store_patch_mode
from pixseek.ingest.run import run_ingest
from pixseek.model.identity import ModelId
from tests.support.images import write_images


@pytest.fixture
def one_faiss_thread() -> Iterator[None]:
    # k-means threads spin while they wait for each other; on a shared 2-core runner one
    # thread trains several times faster.
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


def test_ids_map_back_to_image_row_and_col() -> None:
    ids = patch_ids(np.array([0, 7, 123_456_789]), (7, 7))
    assert ids.shape == (3 * 49,)
    image, row, col = split_ids(ids, (7, 7))
    assert image.tolist() == [0] * 49 + [7] * 49 + [123_456_789] * 49
    assert (row * 7 + col).tolist() == list(range(49)) * 3
    image, row, col = split_ids(np.array([7 * 12 + 5]), (3, 4))  # a non-square grid
    assert (int(image[0]), int(row[0]), int(col[0])) == (7, 1, 1)


def test_index_shapes() -> None:
    assert choose_pq_m(512, 32) == 32
    assert choose_pq_m(768, 32) == 32
    assert choose_pq_m(64, 32) == 16  # sub-vectors keep at least 4 dims
    assert choose_pq_m(60, 32) == 15
    assert choose_nlist(49_000_000) == 32_768
    assert choose_nlist(10_000) == 256
    assert choose_nlist(50) == 1


def clustered(n: int, dim: int, things: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((things, dim)).astype(np.float32)
    x = centres[rng.integers(0, things, n)] + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)
    faiss.normalize_L2(x)
    return x, centres


@pytest.mark.slow
def test_compressed_index_finds_the_exact_top_patch(one_faiss_thread: None) -> None:
    grid = (4, 4)
    vectors, centres = clustered(10_400, 32, 150, seed=0)
    ids = patch_ids(np.arange(len(vectors) // 16, dtype=np.int64), grid)
    index = build_index(vectors, ids, min_train=10_000, pq_bytes=4)
    assert index_type(index).startswith("IVF")
    rng = np.random.default_rng(1)
    queries = centres[rng.integers(0, len(centres), 200)] + 0.5 * rng.standard_normal((200, 32)).astype(
        np.float32
    )
    faiss.normalize_L2(queries)
    exact = ids[np.argmax(queries @ vectors.T, axis=1)]
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    _, found = search_index(index, queries, defaults.patch_candidates, nprobe=defaults.patch_nprobe)
    # Region search re-scores the candidates exactly, so the exact top patch is found when
    # its image is among the candidates' images.
    found_images = [set(split_ids(row[row >= 0], grid)[0].tolist()) for row in found]
    exact_images = split_ids(exact, grid)[0]
    hit_rate = np.mean([int(e) in s for e, s in zip(exact_images, found_images, strict=True)])
    assert hit_rate >= 0.9
    _, top1 = search_index(index, queries, 1, nprobe=defaults.patch_nprobe)
    assert np.mean(top1[:, 0] == exact) < hit_rate  # compression alone would not be enough


def test_small_index_is_exact() -> None:
    vectors, _ = clustered(500, 32, 10, seed=2)
    index = build_index(vectors, np.arange(500) * 3, min_train=1000, pq_bytes=8)
    assert index_type(index) == EXACT_TYPE
    scores, ids = search_index(index, vectors[:20], 1, nprobe=1)
    np.testing.assert_array_equal(ids[:, 0], np.arange(20) * 3)
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-3)


def test_writer_keeps_the_patch_index_in_line_with_the_catalog(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "b"
    paths = write_images(folder, 5)
    run_ingest(settings, str(folder))
    loaded = patch_index_store(settings).load()
    assert loaded is not None
    manifest = loaded.manifest
    # 96x64 images, patches over the whole picture: 4 x 6 cells each, ids 4096 apart per image.
    assert (manifest.images, manifest.count, manifest.grid, manifest.patch_mode, manifest.stride) == (
        5,
        120,
        (4, 6),
        "clearclip",
        4096,
    )
    assert loaded.cells.tolist() == [24] * 5
    assert manifest.cls_generation == 1
    first = loaded.images.tolist()
    paths[0].unlink()
    write_images(folder, 1, start=10)
    run_ingest(settings, str(folder))
    loaded = patch_index_store(settings).load()
    assert loaded is not None
    assert loaded.manifest.images == 5 and loaded.index.ntotal == 120
    assert first[0] not in loaded.images.tolist()
    # Every id in the index belongs to an image the index says it holds, cells 0..23 of each.
    held = faiss.vector_to_array(loaded.index.id_map)
    assert sorted(held.tolist()) == sorted(loaded.patch_ids(loaded.images).tolist())
    assert set((held // 4096).tolist()) == set(loaded.images.tolist()) and set((held % 4096).tolist()) == set(
        range(24)
    )


def test_ingest_refuses_to_mix_patch_modes(
    settings: Settings, bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_ingest(settings, str(bucket))
    assert store_patch_mode(settings.patch_dir) == "clearclip"
    monkeypatch.setattr(settings, "patch_mode", "maskclip")
    with pytest.raises(PatchModeMismatch, match="PIXSEEK_PATCH_MODE=clearclip"):
        run_ingest(settings, str(bucket))
    # Search refuses too: the index's scores were made another way than configured.
    from pixseek.search.regions import RegionSearchService

    with pytest.raises(PatchModeMismatch) as caught:
        RegionSearchService(settings).loaded_patch_index()
    assert caught.value.status_code == 409 and caught.value.code == "patch_mode_mismatch"


def test_writer_switches_to_the_compressed_index_past_the_threshold(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, one_faiss_thread: None
) -> None:
    from pixseek.core.db import session_scope
    from pixseek.index.catalog.images import Image, ImageStatus
    from pixseek.index.vectors.patch_store import PatchStore
    from pixseek.index.vectors.patch_sync import update_patch_index

    monkeypatch.setattr(settings, "patch_index_min_train", 1000)
    store = PatchStore(settings.patch_dir)
    rng = np.random.default_rng(3)
    model_id = f"{settings.model}/{settings.pretrained}"
    with session_scope(settings) as session:
        for n in range(70):  # 70 * 16 = 1120 patches
            row = Image(
                bucket="b", key=f"k{n}", status=ImageStatus.EMBEDDED, model=model_id, grid_h=4, grid_w=4
            )
            session.add(row)
            session.flush()
            store.put(row.id, rng.standard_normal((4, 4, 64)).astype(np.float16))
        first = update_patch_index(settings, session, ModelId.of(settings), 64, 1)
    assert first.index_type.startswith("IVF") and first.patches == 1120 and first.images == 70
    loaded = patch_index_store(settings).load()
    assert loaded is not None and loaded.manifest.trained_on == 1120
    with session_scope(settings) as session:
        session.get(Image, 5).status = ImageStatus.DELETED  # type: ignore[union-attr]
        session.flush()
        second = update_patch_index(settings, session, ModelId.of(settings), 64, 2)
    assert second.index_type == first.index_type and second.patches == 1104 and second.removed == 1


def test_status_reports_the_patch_index(settings: Settings, bucket: Path) -> None:
    from pixseek.core.db import session_scope
    from pixseek.index.status import catalog_status

    with session_scope(settings) as session:
        assert catalog_status(settings, session)["patch_index"] is None
    run_ingest(settings, str(bucket))
    with session_scope(settings) as session:
        full = catalog_status(settings, session)
    status = full["patch_index"]
    assert status["images"] == 6 and status["patches"] == 6 * 24 and status["patch_mode"] == "clearclip"
    assert full["patch_layouts"] == {"tiles": 6}
    assert status["type"] == EXACT_TYPE and status["bytes"] > 0
