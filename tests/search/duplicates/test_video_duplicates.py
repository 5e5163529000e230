"""Duplicates across media: a photo that is a frame of a video is grouped with that moment."""

from __future__ import annotations

from pathlib import Path

from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.demo.videos import slideshow_frames, write_video
from pixseek.ingest.run import run_ingest
from pixseek.search.duplicates.service import DuplicateService
from tests.support.videos import pictures, slideshow


def test_a_photo_taken_from_a_video_is_grouped_with_its_segment(settings: Settings, tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    slideshow(bucket / "show.mp4", seed=8, n=3, hold=1.5)
    pictures(8, 3)[1].save(bucket / "still.png")  # the second scene, as a picture
    run_ingest(settings, str(bucket))
    service = DuplicateService(settings)
    with session_scope(settings) as session:
        service.detect(session)
    with session_scope(settings) as session:
        _, groups = service.list_groups(session)
    keys = [{image.key for image in group.images} for group in groups]
    # The photo, the moment it was taken from, and the video (whose own signature is its middle frame).
    assert {"still.png", "show.mp4#segment=1", "show.mp4"} in keys, keys


def test_a_resized_and_trimmed_copy_of_a_video_is_one_group_with_it(
    settings: Settings, tmp_path: Path
) -> None:
    bucket = tmp_path / "bucket"
    drawn = pictures(9, 3)
    frames, _ = slideshow_frames(drawn, 1.5, 0.0, 8)
    bucket.mkdir()
    write_video(bucket / "a.mp4", frames, 8)
    smaller, _ = slideshow_frames([p.resize((128, 128)) for p in drawn], 1.5, 0.0, 8)
    write_video(bucket / "a-small-trimmed.mp4", smaller[4:], 8)
    run_ingest(settings, str(bucket))
    service = DuplicateService(settings)
    with session_scope(settings) as session:
        service.detect(session)
    with session_scope(settings) as session:
        _, groups = service.list_groups(session)
    assert len(groups) == 1, [[i.key for i in g.images] for g in groups]
    assert {"a.mp4", "a-small-trimmed.mp4"} <= {image.key for image in groups[0].images}
