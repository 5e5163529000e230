"""Videos at the media layer: recognised by content, sampled under bounds, bad input refused with a reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixseek.media.video import VideoError, VideoLimits, frame_at, sample_video, sniff_video
from tests.support.videos import pictures, slideshow


@pytest.fixture(scope="module")
def show(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[float]]:
    path = tmp_path_factory.mktemp("video") / "show.mp4"
    truth = slideshow(path, seed=5, n=3, hold=1.5)
    return path.read_bytes(), truth


def test_containers_are_recognised_by_their_first_bytes(show: tuple[bytes, list[float]]) -> None:
    data, _ = show
    assert sniff_video(data[:64]) == "MP4"
    assert sniff_video(b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ") == "MOV"
    assert sniff_video(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm" + bytes(40)) == "WEBM"
    assert sniff_video(b"\x1a\x45\xdf\xa3" + bytes(60)) == "MKV"
    assert sniff_video(b"RIFF\x00\x00\x00\x00AVI LIST" + bytes(48)) == "AVI"
    assert sniff_video(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic") is None  # a photo
    assert sniff_video(b"\x89PNG\r\n\x1a\n" + bytes(56)) is None


def test_a_slideshow_is_cut_where_the_pictures_change(show: tuple[bytes, list[float]]) -> None:
    data, truth = show
    sample = sample_video(data, "MP4", VideoLimits())
    starts = [p.start for p in sample.pieces]
    assert len(starts) == 3 and starts[0] == 0.0
    assert all(abs(a - b) <= 0.25 for a, b in zip(starts[1:], truth, strict=True))
    assert sample.note is None and abs(sample.duration - 4.5) < 0.3
    # The representative frame is found again from its time, full size.
    middle = sample.pieces[1]
    frame = frame_at(data, "MP4", middle.time, VideoLimits())
    assert frame.size == (sample.width, sample.height)
    drawn = np.asarray(pictures(5, 3)[1], dtype=np.float32)
    assert np.abs(np.asarray(frame, dtype=np.float32) - drawn).mean() < 12


def test_bad_videos_are_refused_or_cut_short_with_a_reason(
    show: tuple[bytes, list[float]], tmp_path: Path
) -> None:
    data, _ = show
    with pytest.raises(VideoError, match=r"cannot open|no video"):
        sample_video(data[:600], "MP4", VideoLimits())
    with pytest.raises(VideoError, match="decompression bomb"):
        sample_video(data, "MP4", VideoLimits(max_pixels=1000))
    # Bounded in time and in video seconds: what was decoded is kept, with the reason.
    short = sample_video(data, "MP4", VideoLimits(max_seconds=1.0))
    assert short.note is not None and "limit" in short.note and short.duration <= 1.5
    capped = sample_video(data, "MP4", VideoLimits(max_pieces=2))
    assert len(capped.pieces) == 2 and capped.note is not None
    # MP4 keeps its index at the end: cut short, it cannot be opened. Matroska streams: what
    # was written before the damage is read, and the rest is said to be missing.
    with pytest.raises(VideoError, match="cannot open"):
        sample_video(data[: len(data) * 2 // 3], "MP4", VideoLimits())
    path = tmp_path / "show.mkv"
    slideshow(path, seed=5, n=3, hold=4.0)  # Matroska writes clusters of 5 s
    streamed = path.read_bytes()
    truncated = sample_video(streamed[: len(streamed) * 2 // 3], "MKV", VideoLimits())
    assert 4.0 < truncated.duration < 12.0 and len(truncated.pieces) >= 1


def test_animated_pictures_are_sampled_frame_by_frame(tmp_path: Path) -> None:
    drawn = pictures(6, 2)
    frames = [drawn[0]] * 4 + [drawn[1]] * 4
    path = tmp_path / "anim.webp"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=250, loop=0)
    sample = sample_video(path.read_bytes(), "WEBP", VideoLimits())
    assert len(sample.pieces) == 2 and abs(sample.pieces[1].start - 1.0) <= 0.25
    assert isinstance(frame_at(path.read_bytes(), "WEBP", 1.2, VideoLimits()), Image.Image)
