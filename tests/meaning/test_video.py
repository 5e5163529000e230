"""Videos with the bundled tiny model: text queries find the right moment, slideshow cuts are found.

Held-out clips of generated scenes (things moving, cut from one scene to the next) and
slideshows of generated pictures joined by cuts and cross-fades, written with PyAV; each
knows its truth (`pixseek/demo/videos.py`). Everything goes through `pixseek ingest` and
`pixseek search` as a user runs them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from pixseek.core.db import dispose_engines, session_scope
from pixseek.core.settings import get_settings
from pixseek.demo.scenes import random_layout, render
from pixseek.demo.videos import Clip, boundary_scores, slideshow_frames, write_scene_clips, write_video
from pixseek.index.catalog.images import Image, ImageStatus
from tests.support.cli import cli_json
from tests.support.meaning import MEANING_ENV

log = logging.getLogger(__name__)

CLIPS = 8  # of 3 scenes of 2 s each: 24 moments, none alike
TOLERANCE = 1.0  # seconds


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[Clip], list[list[float]]]]:
    """Clips and slideshows, ingested once with the tiny model; (bucket, clips, slideshow truths)."""
    root = tmp_path_factory.mktemp("videos")
    bucket = root / "videos"
    clips = write_scene_clips(bucket, CLIPS, seed=2027)
    rng = np.random.default_rng(7)
    truths = []
    for i, fade in enumerate((0.0, 0.0, 1.0)):
        pictures = [render(random_layout(rng), 160) for _ in range(6)]
        frames, boundaries = slideshow_frames(pictures, 2.5, fade, 8)
        write_video(bucket / f"show{i}.mp4", frames, 8)
        truths.append(boundaries)
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {**MEANING_ENV, "PIXSEEK_DATA_DIR": str(root / "data")}.items():
            mp.setenv(name, value)
        for name in ("PIXSEEK_DATABASE_URL", "PIXSEEK_BROKER_URL"):
            mp.delenv(name, raising=False)
        get_settings.cache_clear()
        summary = cli_json("ingest", str(bucket))
        assert summary["failed"] == [] and summary["videos"] == CLIPS + 3, summary
        yield bucket, clips, truths
        get_settings.cache_clear()
        dispose_engines()


def test_text_queries_find_the_right_moment_of_the_right_clip(
    videos: tuple[Path, list[Clip], list[list[float]]],
) -> None:
    _, clips, _ = videos
    found = 0
    for clip in clips:
        for shot in clip.shots:
            hits = cli_json("search", shot.caption, "--media", "video", "-k", "1")["results"]
            hit = hits[0] if hits else {}
            found += hit.get("key") == clip.key and abs(hit["start"] - shot.start) <= TOLERANCE
    recall = found / sum(len(c.shots) for c in clips)
    log.info("meaning.video_moment recall@1=%.3f", recall)
    assert recall >= 0.9, f"moment recall@1 {recall:.3f}"


def test_slideshow_cuts_and_fades_are_found(videos: tuple[Path, list[Clip], list[list[float]]]) -> None:
    _, _, truths = videos
    settings = get_settings()
    true_positive = found_total = truth_found = truth_total = 0
    with session_scope(settings) as session:
        for i, truth in enumerate(truths):
            video = session.scalars(select(Image).where(Image.key == f"show{i}.mp4")).one()
            starts = sorted(
                s
                for s in session.scalars(
                    select(Image.start_s).where(
                        Image.parent_id == video.id, Image.status == ImageStatus.INDEXED
                    )
                )
                if s
            )
            tp, hit = boundary_scores(starts, truth, 0.5)
            true_positive, found_total = true_positive + tp, found_total + len(starts)
            truth_found, truth_total = truth_found + hit, truth_total + len(truth)
    precision, recall = true_positive / max(1, found_total), truth_found / truth_total
    log.info("meaning.video_cuts precision=%.3f recall=%.3f", precision, recall)
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)


def test_one_hit_per_video_with_its_moments_and_the_media_filters(
    videos: tuple[Path, list[Clip], list[list[float]]], tmp_path: Path
) -> None:
    _, clips, _ = videos
    results = cli_json("search", clips[0].shots[0].caption, "-k", "20")["results"]
    keys = [hit["key"] for hit in results]
    assert len(keys) == len(set(keys))  # a video once, however many of its segments match
    first = results[0]
    assert first["media"] == "video" and first["moments"][0]["start"] == first["start"]
    assert first["end"] > first["start"] and first["duration"] >= first["end"]
    assert cli_json("search", "a red circle", "--media", "image")["results"] == []
    short = cli_json("search", "a red circle", "--max-duration", "6.5", "-k", "50")["results"]
    assert short and all(hit["duration"] <= 6.5 for hit in short)
