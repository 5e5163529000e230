"""Ingest end to end: good files indexed, bad ones reported, re-runs incremental."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from pixseek.core.db import session_scope
from pixseek.core.errors import BucketNotFound, ModelMismatch
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import ImageStatus
from pixseek.index.catalog.jobs import JobStatus, job_progress
from pixseek.index.vectors.manifest import Manifest
from pixseek.index.vectors.store import IndexStore
from pixseek.ingest import finalizing
from pixseek.ingest.finalizing import finalize_job
from pixseek.ingest.planning import create_job, plan_job
from pixseek.ingest.processing import process_images
from pixseek.ingest.run import run_ingest
from pixseek.media.sources import open_source
from pixseek.model.encoder import Encoder, get_encoder
from pixseek.model.tiling import plan_layout
from pixseek.search.query import ImagePart, Query
from pixseek.search.service import SearchService
from tests.support.images import BAD_FILES, encode, pattern, write_bad_files, write_image
from tests.support.ingested import (
    bump_mtime,
    catalog,
    faiss_ids,
    faiss_vectors,
    generation,
    patches,
    stored_vectors,
    summary,
    write_good_images,
)


class EncodeCounter:
    """Counts the images that reach the model."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.images = 0
        self.whole = 0  # images whose patches were made over the whole picture (tiles)
        self._tiling = False
        original = Encoder.encode_pixels
        original_whole = Encoder.encode_whole_batch

        def counting(encoder: Encoder, pixels: np.ndarray, *args: object, **kwargs: object) -> object:
            if not self._tiling:  # tiles are not images
                self.images += len(pixels)
            return original(encoder, pixels, *args, **kwargs)  # type: ignore[arg-type]

        def whole(encoder: Encoder, items: list[object], *args: object, **kwargs: object) -> object:
            self._tiling = True
            self.whole += len(items)
            try:
                return original_whole(encoder, items, *args, **kwargs)  # type: ignore[arg-type]
            finally:
                self._tiling = False

        monkeypatch.setattr(Encoder, "encode_pixels", counting)
        monkeypatch.setattr(Encoder, "encode_whole_batch", whole)


@pytest.fixture
def encoded(monkeypatch: pytest.MonkeyPatch) -> EncodeCounter:
    return EncodeCounter(monkeypatch)


def test_mixed_folder_indexes_every_good_image_and_reports_every_bad_one(
    settings: Settings, tmp_path: Path
) -> None:
    root = tmp_path / "mixed"
    good = write_good_images(root)
    bad = dict(write_bad_files(root))
    outside = write_image(tmp_path / "outside.png", 50)
    (root / "bad/escape.png").symlink_to(outside)
    bad["bad/escape.png"] = "failed"
    os.mkfifo(root / "bad/pipe.jpg")
    bad["bad/pipe.jpg"] = "skipped"

    job_id = run_ingest(settings, str(root))

    result = summary(settings, job_id)
    assert result["job_id"] == job_id
    assert result["bucket"] == str(root.resolve())
    assert result["status"] == JobStatus.DONE
    assert result["total"] == len(good) + len(bad)
    assert result["indexed"] == len(good)
    assert (result["unchanged"], result["deleted"]) == (0, 0)
    failed = {item["key"]: item["error"] for item in result["failed"]}
    skipped = {item["key"]: item["reason"] for item in result["skipped"]}
    assert set(failed) == {k for k, s in bad.items() if s == "failed"}
    assert set(skipped) == {k for k, s in bad.items() if s == "skipped"}
    assert failed["bad/empty.jpg"] == "empty file"
    assert "truncated" in failed["bad/truncated.jpg"]
    assert "not an image" in failed["bad/random.png"]
    assert "not an image" in failed["bad/text-named.jpg"]
    assert "decompression bomb" in failed["bad/bomb.png"]
    assert "decompression bomb" in failed["bad/bomb.heic"]
    assert "decompression bomb" in failed["bad/bomb.avif"]
    assert "HEIF" in failed["bad/truncated.heic"] and "AVIF" in failed["bad/truncated.avif"]
    assert "outside the bucket" in failed["bad/escape.png"]
    assert "not an image" in skipped["bad/notes.txt"]
    assert skipped["bad/.hidden.png"] == "hidden file"
    assert skipped["bad/pipe.jpg"] == "not a regular file"

    rows = catalog(settings)
    assert set(rows) == set(good) | set(bad)
    for key, (fmt, (width, height)) in good.items():
        row = rows[key]
        assert row.status == ImageStatus.INDEXED, key
        assert (row.format, row.width, row.height) == (fmt, width, height), key
        assert row.size == (root / key).stat().st_size
        assert row.mtime == (root / key).stat().st_mtime
        assert row.sha256 is not None and len(row.sha256) == 64
        assert row.model == "pixseek-tiny/none"
        # Patches over the whole picture: 4 cells on the shorter side, the longer one in proportion.
        layout = plan_layout(width, height, image_size=64, grid=4, tiles=1, max_tiles=8)
        assert (row.grid_h, row.grid_w, row.patch_layout) == (layout.rows, layout.cols, "tiles"), key
        assert row.embedded_at is not None and row.error is None
        assert row.job_id == job_id
    for key, status in bad.items():
        assert rows[key].status == status, key
        assert rows[key].error, key
        assert rows[key].model is None

    good_ids = {rows[k].id for k in good}
    assert faiss_ids(settings) == good_ids
    assert set(stored_vectors(settings)) == good_ids
    store = patches(settings)
    assert all(store.get(rows[k].id) is not None for k in good)
    assert all(store.get(rows[k].id) is None for k in bad)


def test_failed_files_do_not_stop_the_batch_they_are_in(settings: Settings, tmp_path: Path) -> None:
    # Batch size is 8: bad files interleaved with good ones inside every batch.
    root = tmp_path / "b"
    for i in range(12):
        write_image(root / f"{i:02d}-good.png", i)
        (root / f"{i:02d}-bad.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00" * i)
    result = summary(settings, run_ingest(settings, str(root)))
    assert result["indexed"] == 12
    assert len(result["failed"]) == 12
    assert all("JPEG" in item["error"] for item in result["failed"])


def test_file_over_the_size_limit_is_failed(settings: Settings, tmp_path: Path) -> None:
    root = tmp_path / "b"
    small = write_image(root / "small.png", 1, size=(16, 16))
    write_image(root / "big.png", 2, size=(400, 400))
    limited = settings.model_copy(update={"max_file_bytes": small.stat().st_size + 10})
    result = summary(limited, run_ingest(limited, str(root)))
    assert result["indexed"] == 1
    assert [item["key"] for item in result["failed"]] == ["big.png"]
    assert "file too large" in result["failed"][0]["error"]


def test_image_over_the_pixel_limit_is_failed_as_a_bomb(settings: Settings, tmp_path: Path) -> None:
    root = tmp_path / "b"
    write_image(root / "small.png", 1, size=(32, 32))
    write_image(root / "big.png", 2, size=(200, 200))
    limited = settings.model_copy(update={"max_image_pixels": 100 * 100})
    result = summary(limited, run_ingest(limited, str(root)))
    assert result["indexed"] == 1
    assert [item["key"] for item in result["failed"]] == ["big.png"]
    assert "decompression bomb" in result["failed"][0]["error"]


def test_reingest_embeds_nothing_unchanged(settings: Settings, bucket: Path, encoded: EncodeCounter) -> None:
    write_bad_files(bucket)
    first = summary(settings, run_ingest(settings, str(bucket)))
    assert first["indexed"] == 6 and encoded.images == 6
    before = catalog(settings)
    gen, ids = generation(settings), faiss_ids(settings)
    patch_mtimes = {
        k: patches(settings).path(r.id).stat().st_mtime_ns
        for k, r in before.items()
        if r.status == ImageStatus.INDEXED
    }

    second = summary(settings, run_ingest(settings, str(bucket)))

    assert encoded.images == 6  # nothing reached the model
    assert second["indexed"] == 0
    assert second["unchanged"] == 6
    assert second["deleted"] == 0
    assert second["total"] == first["total"]
    # Bad files are looked at again (they may have been fixed) and reported again.
    assert second["failed"] == first["failed"]
    assert second["skipped"] == first["skipped"]
    assert generation(settings) == gen
    assert faiss_ids(settings) == ids
    after = catalog(settings)
    for key, row in before.items():
        if row.status == ImageStatus.INDEXED:
            assert after[key].embedded_at == row.embedded_at, key
            assert after[key].job_id == row.job_id, key
            assert patches(settings).path(row.id).stat().st_mtime_ns == patch_mtimes[key]


def test_modified_file_is_reembedded_under_the_same_id(
    settings: Settings, bucket: Path, encoded: EncodeCounter
) -> None:
    run_ingest(settings, str(bucket))
    before = catalog(settings)["img003.png"]
    gen = generation(settings)
    path = bucket / "img003.png"
    path.write_bytes(encode(pattern(1003), "PNG"))
    bump_mtime(path)

    result = summary(settings, run_ingest(settings, str(bucket)))

    assert encoded.images == 7
    assert (result["indexed"], result["unchanged"], result["deleted"]) == (1, 5, 0)
    after = catalog(settings)["img003.png"]
    assert after.id == before.id
    assert after.sha256 != before.sha256
    assert after.embedded_at is not None and before.embedded_at is not None
    assert after.embedded_at > before.embedded_at
    assert after.status == ImageStatus.INDEXED
    gen_after = generation(settings)
    assert gen is not None and gen_after == gen + 1
    assert len(faiss_ids(settings)) == 6  # replaced, not added twice
    with session_scope(settings) as session:
        query = Query(parts=(ImagePart(path.read_bytes()),), limit=1)
        hits = SearchService(settings).search(session, query).hits
    assert hits[0].id == before.id
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)
    np.testing.assert_allclose(faiss_vectors(settings)[before.id], stored_vectors(settings)[before.id])


def test_touched_file_with_same_bytes_is_reembedded_and_keeps_its_vector(
    settings: Settings, bucket: Path
) -> None:
    run_ingest(settings, str(bucket))
    before = stored_vectors(settings)
    bump_mtime(bucket / "img001.png")
    result = summary(settings, run_ingest(settings, str(bucket)))
    assert result["unchanged"] == 5
    assert stored_vectors(settings).keys() == before.keys()
    for image_id, vector in stored_vectors(settings).items():
        np.testing.assert_array_equal(vector, before[image_id])


def test_deleted_file_leaves_the_index_and_the_patch_store(settings: Settings, bucket: Path) -> None:
    run_ingest(settings, str(bucket))
    gone = catalog(settings)["img002.png"]
    assert patches(settings).get(gone.id) is not None
    (bucket / "img002.png").unlink()

    result = summary(settings, run_ingest(settings, str(bucket)))

    assert (result["deleted"], result["unchanged"], result["indexed"]) == (1, 5, 0)
    row = catalog(settings)["img002.png"]
    assert row.status == ImageStatus.DELETED
    assert gone.id not in faiss_ids(settings)
    assert len(faiss_ids(settings)) == 5
    assert gone.id not in stored_vectors(settings)
    assert patches(settings).get(gone.id) is None
    with session_scope(settings) as session:
        query = Query(parts=(ImagePart((bucket / "img001.png").read_bytes()),), limit=10)
        hits = SearchService(settings).search(session, query).hits
    assert gone.id not in {h.id for h in hits}
    # Deleted stays deleted, and is not counted again by the next run.
    assert summary(settings, run_ingest(settings, str(bucket)))["deleted"] == 0


def test_deleted_file_that_comes_back_is_indexed_again(settings: Settings, bucket: Path) -> None:
    run_ingest(settings, str(bucket))
    data = (bucket / "img004.png").read_bytes()
    original = catalog(settings)["img004.png"].id
    (bucket / "img004.png").unlink()
    run_ingest(settings, str(bucket))
    (bucket / "img004.png").write_bytes(data)
    result = summary(settings, run_ingest(settings, str(bucket)))
    assert result["indexed"] == 1
    assert catalog(settings)["img004.png"].id == original
    assert original in faiss_ids(settings)


def test_new_file_is_added(settings: Settings, bucket: Path, encoded: EncodeCounter) -> None:
    run_ingest(settings, str(bucket))
    write_image(bucket / "later" / "new.png", 77)
    result = summary(settings, run_ingest(settings, str(bucket)))
    assert (result["indexed"], result["unchanged"], result["total"]) == (1, 6, 7)
    assert encoded.images == 7
    new = catalog(settings)["later/new.png"]
    assert new.status == ImageStatus.INDEXED
    assert faiss_ids(settings) == {row.id for row in catalog(settings).values()}


def test_file_turned_corrupt_leaves_the_index(settings: Settings, bucket: Path) -> None:
    run_ingest(settings, str(bucket))
    row = catalog(settings)["img005.png"]
    path = bucket / "img005.png"
    path.write_bytes(path.read_bytes()[:60])
    bump_mtime(path)
    result = summary(settings, run_ingest(settings, str(bucket)))
    assert [item["key"] for item in result["failed"]] == ["img005.png"]
    assert row.id not in faiss_ids(settings)
    assert row.id not in stored_vectors(settings)
    assert patches(settings).get(row.id) is None


def test_file_replaced_by_a_fifo_leaves_the_index_and_patch_store(settings: Settings, bucket: Path) -> None:
    run_ingest(settings, str(bucket))
    row = catalog(settings)["img005.png"]
    (bucket / "img005.png").unlink()
    os.mkfifo(bucket / "img005.png")
    result = summary(settings, run_ingest(settings, str(bucket)))
    assert result["skipped"] == [{"key": "img005.png", "reason": "not a regular file"}]
    assert row.id not in faiss_ids(settings)
    assert row.id not in stored_vectors(settings)
    assert patches(settings).get(row.id) is None


def test_exact_duplicates_under_two_keys_are_both_indexed_with_one_embedding(
    settings: Settings, bucket: Path, encoded: EncodeCounter
) -> None:
    run_ingest(settings, str(bucket))
    (bucket / "copies").mkdir()
    shutil.copyfile(bucket / "img001.png", bucket / "copies" / "same.png")

    result = summary(settings, run_ingest(settings, str(bucket)))

    assert result["indexed"] == 1
    assert encoded.images == 6  # the copy reused the stored vector
    rows = catalog(settings)
    original, copy = rows["img001.png"], rows["copies/same.png"]
    assert copy.status == ImageStatus.INDEXED
    assert copy.id != original.id and copy.sha256 == original.sha256
    vectors = faiss_vectors(settings)
    np.testing.assert_array_equal(vectors[copy.id], vectors[original.id])
    np.testing.assert_array_equal(patches(settings).get(copy.id), patches(settings).get(original.id))
    with session_scope(settings) as session:
        query = Query(parts=(ImagePart((bucket / "img001.png").read_bytes()),), limit=2)
        hits = SearchService(settings).search(session, query).hits
    assert {h.id for h in hits} == {original.id, copy.id}
    assert all(h.score == pytest.approx(1.0, abs=1e-4) for h in hits)


def test_duplicates_in_one_run_are_both_indexed(settings: Settings, tmp_path: Path) -> None:
    root = tmp_path / "b"
    write_image(root / "a.png", 1)
    shutil.copyfile(root / "a.png", root / "b.png")
    result = summary(settings, run_ingest(settings, str(root)))
    assert result["indexed"] == 2
    rows = catalog(settings)
    vectors = faiss_vectors(settings)
    np.testing.assert_allclose(vectors[rows["a.png"].id], vectors[rows["b.png"].id], atol=1e-6)


def test_patch_store_gives_the_grid_in_fp16(settings: Settings, bucket: Path) -> None:
    run_ingest(settings, str(bucket))
    row = catalog(settings)["img000.png"]
    grid = patches(settings).get(row.id)
    assert grid is not None
    assert grid.shape == (4, 6, 64)  # 96x64: 4 x 6 cells over the whole picture
    assert grid.dtype == np.float16
    np.testing.assert_allclose(np.linalg.norm(grid.astype(np.float32), axis=-1), 1.0, atol=2e-3)
    encoder = get_encoder(settings)
    img = pattern(0)
    layout = plan_layout(*img.size, image_size=64, grid=4, tiles=1, max_tiles=8)
    expected = encoder.encode_whole(encoder.preprocessor.tiles(img, layout), layout, "tiles")
    np.testing.assert_allclose(grid.astype(np.float32), expected.astype(np.float32), atol=2e-3)
    assert patches(settings).get(10**9) is None


def test_process_images_twice_for_one_job_is_a_no_op_the_second_time(
    settings: Settings, bucket: Path, encoded: EncodeCounter
) -> None:
    source = open_source(str(bucket), settings)
    job_id = create_job(settings, source.bucket)
    plan = plan_job(settings, job_id, source)
    assert len(plan.work) == 6
    assert process_images(settings, job_id, source.bucket, plan.work) == 6
    before = catalog(settings)
    assert process_images(settings, job_id, source.bucket, plan.work) == 0
    assert encoded.images == 6
    after = catalog(settings)
    assert {k: (r.status, r.embedded_at) for k, r in after.items()} == {
        k: (r.status, r.embedded_at) for k, r in before.items()
    }
    first = finalize_job(settings, job_id)
    second = finalize_job(settings, job_id)
    assert first is not None and (first.added, first.count) == (6, 6)
    assert second is None  # the job is done: a second finalize publishes nothing
    assert IndexStore(settings.index_dir).current_generation() == first.generation


def test_job_progress_counts_every_file(settings: Settings, bucket: Path) -> None:
    write_bad_files(bucket)
    job_id = run_ingest(settings, str(bucket))
    with session_scope(settings) as session:
        progress = job_progress(session, job_id)
    assert progress.status == JobStatus.DONE
    assert progress.total == 6 + len(BAD_FILES)
    assert progress.done == progress.total
    assert progress.indexed == 6
    statuses = list(BAD_FILES.values())
    assert (progress.failed, progress.skipped) == (statuses.count("failed"), statuses.count("skipped"))
    assert progress.failed == 9 and progress.skipped == 2
    assert progress.finished_at is not None


def test_manifest_records_what_built_the_index(settings: Settings, bucket: Path) -> None:
    run_ingest(settings, str(bucket))
    gen = generation(settings)
    assert gen is not None
    manifest = Manifest.read(IndexStore(settings.index_dir).generation_dir(gen) / "manifest.json")
    assert (manifest.model, manifest.pretrained, manifest.dim, manifest.count) == (
        "pixseek-tiny",
        "none",
        64,
        6,
    )
    assert manifest.metric == "inner_product"
    assert manifest.generation == gen
    assert manifest.built_at


def test_index_built_by_another_model_is_refused_with_a_reindex_hint(
    settings: Settings, bucket: Path
) -> None:
    run_ingest(settings, str(bucket))
    other = settings.model_copy(update={"model": "ViT-B-32", "pretrained": "laion2b_s34b_b79k"})
    with pytest.raises(ModelMismatch) as err:
        SearchService(other).loaded_index()
    assert "pixseek-tiny/none" in err.value.detail
    assert "re-index" in err.value.detail
    assert err.value.status_code == 409


def test_changing_the_weights_reembeds_everything(settings: Settings, bucket: Path, tmp_path: Path) -> None:
    import torch

    run_ingest(settings, str(bucket))
    checkpoint = tmp_path / "tiny.pt"
    torch.save(get_encoder(settings).model.state_dict(), checkpoint)
    other = settings.model_copy(update={"pretrained": str(checkpoint)})
    result = summary(other, run_ingest(other, str(bucket)))
    assert (result["indexed"], result["unchanged"]) == (6, 0)
    loaded = IndexStore(settings.index_dir).load()
    assert loaded is not None
    assert loaded.manifest.pretrained == str(checkpoint)
    assert loaded.ntotal == 6
    with pytest.raises(ModelMismatch):
        SearchService(settings).loaded_index()


def test_missing_bucket_fails_before_creating_a_job(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(BucketNotFound):
        run_ingest(settings, str(tmp_path / "nope"))


def test_celery_tasks_run_eagerly_and_match_run_ingest(
    settings: Settings, bucket: Path, tmp_path: Path
) -> None:
    from pixseek.ingest.celery_app import celery_app
    from pixseek.ingest.tasks import finalize, process_batch

    assert celery_app.conf.task_always_eager
    write_bad_files(bucket)
    source = open_source(str(bucket), settings)
    job_id = create_job(settings, source.bucket)
    plan = plan_job(settings, job_id, source)
    done = [process_batch.delay(job_id, source.bucket, ids).get() for ids in plan.batches(4)]
    assert sum(done) == len(plan.work)
    # A redelivered batch changes nothing.
    assert process_batch.delay(job_id, source.bucket, plan.work[:4]).get() == 0
    finalize.delay(job_id).get()  # already run by the last batch; running it again is harmless
    via_tasks = summary(settings, job_id)

    reference = settings.model_copy(update={"data_dir": tmp_path / "reference"})
    via_service = summary(reference, run_ingest(reference, str(bucket)))

    for doc in (via_tasks, via_service):
        doc.pop("job_id")
    assert via_tasks == via_service
    assert via_tasks["indexed"] == 6
    tasks_vectors = {catalog(settings)[k].id: k for k in catalog(settings)}
    service_vectors = {catalog(reference)[k].id: k for k in catalog(reference)}
    a, b = faiss_vectors(settings), faiss_vectors(reference)
    assert {tasks_vectors[i] for i in a} == {service_vectors[i] for i in b}
    by_key_b = {service_vectors[i]: v for i, v in b.items()}
    for image_id, vector in a.items():
        np.testing.assert_allclose(vector, by_key_b[tasks_vectors[image_id]], atol=1e-6)


def test_failed_job_is_recorded_and_the_next_run_recovers(
    settings: Settings, bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_publish = finalizing.publish_index

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(finalizing, "publish_index", broken)
    source = open_source(str(bucket), settings)
    job_id = create_job(settings, source.bucket)
    with pytest.raises(RuntimeError, match="disk on fire"):
        run_ingest(settings, str(bucket), job_id=job_id)
    with session_scope(settings) as session:
        progress = job_progress(session, job_id)
    assert progress.status == JobStatus.FAILED
    assert progress.error == "RuntimeError: disk on fire"
    assert generation(settings) is None

    monkeypatch.setattr(finalizing, "publish_index", real_publish)
    result = summary(settings, run_ingest(settings, str(bucket)))
    # The vectors stored by the failed run are published now, and counted as this run's work.
    assert (result["indexed"], result["unchanged"]) == (6, 0)
    assert len(faiss_ids(settings)) == 6
    assert {row.status for row in catalog(settings).values()} == {ImageStatus.INDEXED}


def test_run_that_died_after_planning_is_picked_up_by_the_next(
    settings: Settings, bucket: Path, encoded: EncodeCounter
) -> None:
    source = open_source(str(bucket), settings)
    plan_job(settings, create_job(settings, source.bucket), source)  # then the process died
    assert {row.status for row in catalog(settings).values()} == {ImageStatus.PENDING}
    result = summary(settings, run_ingest(settings, str(bucket)))
    assert result["indexed"] == 6
    assert encoded.images == 6
    assert len(faiss_ids(settings)) == 6


def test_file_name_that_is_not_utf8_is_skipped_and_the_run_goes_on(settings: Settings, bucket: Path) -> None:
    Path(os.fsdecode(bytes(bucket) + b"/caf\xe9.png")).write_bytes(encode(pattern(40), "PNG"))
    result = summary(settings, run_ingest(settings, str(bucket)))
    assert result["indexed"] == 6
    assert result["skipped"] == [{"key": "caf\\xe9.png", "reason": "file name is not valid UTF-8"}]
