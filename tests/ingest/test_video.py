"""Videos in the ingest: segments as catalog items, incremental runs, bad input recorded."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import select

from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import ImageStatus, ImageVector
from pixseek.index.catalog.jobs import job_summary
from pixseek.index.catalog.thumbnails import Thumbnail
from pixseek.index.vectors.patch_store import PatchStore
from pixseek.index.vectors.store import IndexStore, index_ids
from pixseek.ingest.run import run_ingest
from pixseek.search.heatmap import displayed_image
from tests.support.images import write_images
from tests.support.videos import catalog_rows, pictures, searchable_segments, slideshow


def _indexed(settings: Settings) -> set[int]:
    loaded = IndexStore(settings.index_dir).load()
    assert loaded is not None
    return {int(i) for i in index_ids(loaded.index)}


def test_a_mixed_bucket_ingests_videos_as_segments_incrementally(settings: Settings, tmp_path: Path) -> None:
    bucket = tmp_path / "mixed"
    write_images(bucket, 2)
    truth = slideshow(bucket / "show.mp4", seed=1)
    slideshow(bucket / "other.mp4", seed=2, n=2)
    (bucket / "broken.mp4").write_bytes((bucket / "show.mp4").read_bytes()[:600])  # truncated
    (bucket / "empty.mov").write_bytes(b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ")  # no stream

    job = run_ingest(settings, str(bucket))
    with session_scope(settings) as session:
        summary = job_summary(session, job)
    assert summary["indexed"] == 4 and summary["videos"] == 2  # two pictures, two videos
    assert abs(summary["video_seconds"] - (4.5 + 3.0)) < 0.5
    assert sorted(f["key"] for f in summary["failed"]) == ["broken.mp4", "empty.mov"]
    assert all(f["error"] for f in summary["failed"])

    segments = searchable_segments(settings, "show.mp4")
    starts = [s.start_s for s in segments]
    assert len(segments) == 3, [(s.start_s, s.end_s) for s in segments]
    assert all(abs(a - b) <= 0.5 for a, b in zip(starts[1:], truth, strict=True))
    rows = catalog_rows(settings)
    video = rows["show.mp4"]
    assert video.media == "video" and video.format == "MP4" and abs((video.duration_s or 0) - 4.5) < 0.3
    with session_scope(settings) as session:
        vector_owners = set(session.scalars(select(ImageVector.image_id)))
        thumbed = set(session.scalars(select(Thumbnail.image_id)))
    assert video.id not in vector_owners  # the file has no vector: its segments do
    assert {s.id for s in segments} <= vector_owners & thumbed
    patches = PatchStore(settings.patch_dir)
    assert all(patches.get(s.id) is not None for s in segments)
    indexed = _indexed(settings)
    assert {s.id for s in segments} <= indexed and video.id not in indexed
    # Region features draw over a segment's frame, decoded again from the video.
    assert displayed_image(settings, segments[1]).size == (video.width, video.height)

    # Incremental: unchanged files are left alone; a changed video keeps its row and is cut
    # again; a deleted one takes its segments out of the index.
    slideshow(bucket / "show.mp4", seed=3, n=2, hold=2.0)
    (bucket / "other.mp4").unlink()
    old_other = [s.id for s in searchable_segments(settings, "other.mp4")]
    job = run_ingest(settings, str(bucket))
    with session_scope(settings) as session:
        summary = job_summary(session, job)
    assert summary["unchanged"] == 2 and summary["deleted"] == 1  # the pictures; failed files are tried again
    rows = catalog_rows(settings)
    assert rows["show.mp4"].id == video.id
    assert len(searchable_segments(settings, "show.mp4")) == 2
    assert all(rows[k].status == ImageStatus.DELETED for k in rows if k.startswith("other.mp4"))
    indexed = _indexed(settings)
    assert not indexed & set(old_other)
    assert not any(r.id in indexed for r in rows.values() if r.status == ImageStatus.DELETED)


def test_animated_gifs_are_videos_and_stills_stay_pictures(settings: Settings, tmp_path: Path) -> None:
    bucket = tmp_path / "gifs"
    bucket.mkdir()
    drawn = pictures(4, 2)
    frames = [drawn[0]] * 6 + [drawn[1]] * 6
    frames[0].save(bucket / "anim.gif", save_all=True, append_images=frames[1:], duration=250, loop=0)
    drawn[0].save(bucket / "still.gif")
    shutil.copy(bucket / "still.gif", bucket / "copy.gif")
    run_ingest(settings, str(bucket))
    rows = catalog_rows(settings)
    assert rows["still.gif"].media is None and rows["still.gif"].status == ImageStatus.INDEXED
    segments = searchable_segments(settings, "anim.gif")
    assert rows["anim.gif"].media == "video" and len(segments) == 2
    assert abs((segments[1].start_s or 0) - 1.5) <= 0.3


def test_a_model_switch_embeds_segments_again_from_their_frames(settings: Settings, tmp_path: Path) -> None:
    from pixseek.ingest.reindex import run_reindex
    from pixseek.model.bundled import SCENES_MODEL, SCENES_WEIGHTS
    from pixseek.model.identity import ModelId

    bucket = tmp_path / "bucket"
    write_images(bucket, 1)
    slideshow(bucket / "show.mp4", seed=1)
    run_ingest(settings, str(bucket))
    before = [s.id for s in searchable_segments(settings, "show.mp4")]
    new = ModelId(SCENES_MODEL, str(SCENES_WEIGHTS))
    result = run_reindex(settings, new.name, new.pretrained)
    assert result.switched and result.embedded == 1 + len(before)  # the picture and each segment
    rows = catalog_rows(settings)
    assert rows["show.mp4"].model == new.key and rows["show.mp4"].status == ImageStatus.INDEXED
    after = searchable_segments(settings, "show.mp4")
    assert [s.id for s in after] == before and all(s.model == new.key for s in after)
    # Unchanged for the next ingest: nothing is embedded again.
    job = run_ingest(settings, str(bucket))
    with session_scope(settings) as session:
        assert job_summary(session, job)["unchanged"] == 2
