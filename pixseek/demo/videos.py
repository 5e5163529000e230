"""Videos whose truth is known: slideshows with cuts and cross-fades, clips of generated scenes.

Written with PyAV (MPEG-4 Part 2 in MP4: every FFmpeg build encodes it, and fast), for the
tests of meaning (`tests/meaning/test_video.py`) and `bench/video.py`. Each clip records its
shots: the time range of each picture (a cross-fade's shot boundary is its middle) and its
caption, the query that must find it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from pixseek.demo.scenes import COLOURS, SHAPES, Layout, caption, jitter, random_layout, render


@dataclass(frozen=True)
class Shot:
    start: float
    end: float
    caption: str


@dataclass(frozen=True)
class Clip:
    key: str
    shots: tuple[Shot, ...]
    duration: float

    @property
    def boundaries(self) -> list[float]:
        """The true shot boundaries (not the start and the end)."""
        return [shot.start for shot in self.shots[1:]]


def write_video(path: Path, frames: Iterable[Image.Image], fps: int, *, codec: str = "mpeg4") -> None:
    """Encode RGB frames (all of one size, even sides) into `path` (container by extension)."""
    import av

    with av.open(str(path), mode="w") as container:
        stream: av.VideoStream | None = None
        for image in frames:
            if stream is None:
                added = container.add_stream(codec, rate=fps)
                assert isinstance(added, av.VideoStream)
                stream = added
                stream.width, stream.height = image.size
                stream.pix_fmt = "yuv420p"
                if codec == "mpeg4":
                    stream.codec_context.options = {"qscale": "4"}
            frame = av.VideoFrame.from_ndarray(np.asarray(image.convert("RGB")), format="rgb24")
            container.mux(stream.encode(frame))
        if stream is not None:
            container.mux(stream.encode(None))


def slideshow_frames(
    pictures: Sequence[Image.Image], hold: float, fade: float, fps: int
) -> tuple[list[Image.Image], list[float]]:
    """Frames showing each picture `hold` seconds, joined by cross-fades of `fade` seconds
    (0: cuts); and the true boundaries (a fade's middle)."""
    frames: list[Image.Image] = []
    boundaries: list[float] = []
    per = round(hold * fps)
    fading = round(fade * fps)
    for i, picture in enumerate(pictures):
        frames.extend([picture] * (per - (fading if i + 1 < len(pictures) else 0)))
        if i + 1 < len(pictures):
            nxt = pictures[i + 1]
            for f in range(fading):
                frames.append(Image.blend(picture, nxt, (f + 1) / (fading + 1)))
            boundaries.append((len(frames) - fading / 2) / fps)
    return frames, boundaries


def _moving(layout: Layout, rng: np.random.Generator, n: int, size: int) -> list[Image.Image]:
    """`n` frames of a scene whose things drift a little from frame to frame."""
    frames, current = [], layout
    for i in range(n):
        if i % 3 == 0:
            # The things move; the background stays (a jitter alone would draw a new one).
            current = replace(jitter(layout, rng, shift=0.03), background_seed=layout.background_seed)
        frames.append(render(current, size))
    return frames


def write_scene_clips(
    folder: Path,
    count: int,
    *,
    seed: int = 0,
    shots: int = 3,
    hold: float = 2.0,
    fps: int = 8,
    size: int = 160,
    distinct: bool = True,
) -> list[Clip]:
    """`count` clips of `shots` generated scenes each (one thing per scene, moving a little),
    `hold` seconds a scene, cut from one to the next; their truth. With `distinct`, no two
    scenes show the same (colour, shape), so each caption names one moment."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    kinds = [(c, s) for c in COLOURS for s in SHAPES]
    rng.shuffle(kinds)
    if distinct and count * shots > len(kinds):
        raise ValueError(f"at most {len(kinds)} distinct scenes")
    clips = []
    for c in range(count):
        frames: list[Image.Image] = []
        truth = []
        for s in range(shots):
            kind = [kinds[c * shots + s]] if distinct else None
            layout = random_layout(rng, things=1, kinds=kind)
            n = round(hold * fps)
            truth.append(Shot(len(frames) / fps, (len(frames) + n) / fps, caption(layout)))
            frames.extend(_moving(layout, rng, n, size))
        key = f"clip{c:03d}.mp4"
        write_video(folder / key, frames, fps)
        clips.append(Clip(key, tuple(truth), len(frames) / fps))
    return clips


def boundary_scores(found: Sequence[float], truth: Sequence[float], tolerance: float) -> tuple[int, int]:
    """(true positives among `found`, truth boundaries found): each matched at most once."""
    unused = list(truth)
    hits = 0
    for t in sorted(found):
        near = [u for u in unused if abs(u - t) <= tolerance]
        if near:
            unused.remove(min(near, key=lambda u: abs(u - t)))
            hits += 1
    return hits, len(truth) - len(unused)
