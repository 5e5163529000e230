"""Read, hash, decode and preprocess files on threads, in order, while the model runs.

PIL's decoders and hashlib release the GIL, so a few threads keep the encoder fed. At most
`prefetch` items are in flight, which bounds memory whatever the number of files.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
from PIL import Image as PILImage

from pixseek.core.settings import Settings
from pixseek.ingest.extractors import Extractor, decode_min_side
from pixseek.ingest.video import PreparedVideo, prepare_video, video_limits
from pixseek.media.decode import SNIFF_BYTES, DecodeError, decode_image, looks_like_image_name, sniff
from pixseek.media.sources.base import BucketSource, SourceError
from pixseek.media.video import (
    VideoLimits,
    animated_frames,
    frame_at,
    looks_like_video_name,
    sample_video,
    sniff_video,
)
from pixseek.model.preprocess import Preprocessor, centre_draft_side
from pixseek.model.tiling import Coverage, WholeLayout

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Prepared:
    """A file ready for the model."""

    image_id: int
    sha256: str
    size: int
    format: str
    width: int
    height: int
    captured_at: datetime | None
    pixels: np.ndarray  # the centre crop: the CLS embedding's input
    extras: dict[str, Any] = field(default_factory=dict)  # extractor name -> value
    # Patches over the whole picture: the model inputs of its layout (tiles, or one full pass).
    whole: np.ndarray | None = None
    layout: WholeLayout | None = None


@dataclass
class Rejected:
    """A file that will not reach the model, and why."""

    image_id: int
    status: str  # "failed" or "skipped"
    reason: str
    sha256: str | None = None
    size: int | None = None


def prepare_file(
    source: BucketSource,
    image_id: int,
    key: str,
    preprocessor: Preprocessor,
    *,
    max_bytes: int,
    max_pixels: int,
    extractors: Sequence[Extractor] = (),
    coverage: Coverage | None = None,
) -> Prepared | Rejected:
    """Everything between the bucket and the model for one picture; never raises for bad input."""
    try:
        data = source.read(key, max_bytes)
    except SourceError as exc:
        return Rejected(image_id, "failed", exc.detail)
    digest = hashlib.sha256(data).hexdigest()
    return _prepare_image(source, image_id, key, data, digest, preprocessor, max_pixels, extractors, coverage)


def prepare_media(
    source: BucketSource,
    image_id: int,
    key: str,
    preprocessor: Preprocessor,
    *,
    max_bytes: int,
    max_pixels: int,
    extractors: Sequence[Extractor] = (),
    coverage: Coverage | None = None,
    video: VideoOptions | None = None,
) -> Prepared | PreparedVideo | DeferredVideo | Rejected:
    """`prepare_file`, and with `video` also videos and animated pictures (recognised by
    content); never raises for bad input.

    A video file is only recognised here, from its first bytes: it comes back `DeferredVideo`,
    read and sampled later by `prepare_deferred`, one at a time (a decode thread holding
    several long videos would hold gigabytes). Animated pictures, small, are sampled here.
    """
    if video is None:
        return prepare_file(
            source, image_id, key, preprocessor, max_bytes=max_bytes, max_pixels=max_pixels,
            extractors=extractors, coverage=coverage,
        )  # fmt: skip
    try:
        if looks_like_video_name(key):  # one small read first (pictures are read once, whole)
            head, size = source.read_range(key, 0, SNIFF_BYTES, max(max_bytes, video.max_bytes))
            if (container := sniff_video(head)) is not None:
                return DeferredVideo(image_id, key, container, size)
        data = source.read(key, max_bytes)
    except SourceError as exc:
        return Rejected(image_id, "failed", exc.detail)
    digest = hashlib.sha256(data).hexdigest()
    head = data[:SNIFF_BYTES]
    moving = sniff_video(head)
    if moving is None and sniff(head) in ("GIF", "WEBP") and animated_frames(data) > 1:
        moving = sniff(head)
    if moving is not None:
        return _prepare_video(source, image_id, key, data, digest, moving, preprocessor, video)
    return _prepare_image(source, image_id, key, data, digest, preprocessor, max_pixels, extractors, coverage)


@dataclass(frozen=True)
class DeferredVideo:
    """A video file recognised by its first bytes, to be read and sampled by `prepare_deferred`."""

    image_id: int
    key: str
    format: str
    size: int


def prepare_deferred(
    source: BucketSource, item: DeferredVideo, preprocessor: Preprocessor, video: VideoOptions
) -> PreparedVideo | Rejected:
    """Read and sample a video `prepare_media` deferred; never raises for bad input."""
    try:
        data = source.read(item.key, video.max_bytes)
    except SourceError as exc:
        return Rejected(item.image_id, "failed", exc.detail)
    digest = hashlib.sha256(data).hexdigest()
    return _prepare_video(source, item.image_id, item.key, data, digest, item.format, preprocessor, video)


def _prepare_image(
    source: BucketSource,
    image_id: int,
    key: str,
    data: bytes,
    digest: str,
    preprocessor: Preprocessor,
    max_pixels: int,
    extractors: Sequence[Extractor],
    coverage: Coverage | None,
) -> Prepared | Rejected:
    try:
        # Draft decoding keeps enough pixels for resizing to stay sharp: centre_draft_side for
        # the centre crop alone, twice the tiles' span for patches over the whole picture, and
        # what an extractor needs (thumbnails come from this picture).
        size = preprocessor.image_size
        tiled = coverage is not None and coverage.whole
        side = size * max(2, coverage.tiles) if coverage is not None and tiled else centre_draft_side(size)
        draft = max(side, decode_min_side(extractors))
        decoded = decode_image(data, max_pixels=max_pixels, draft_size=draft)
        pixels, _geometry = preprocessor(decoded.image, (decoded.width, decoded.height))
        whole, layout = None, None
        if coverage is not None and coverage.whole:
            layout = coverage.layout(decoded.width, decoded.height)
            whole = preprocessor.whole_inputs(decoded.image, layout, coverage.method)
        extras = {ex.name: ex.extract(source, key, data, decoded) for ex in extractors}
    except DecodeError as exc:
        if exc.skip and not looks_like_image_name(key):
            return Rejected(image_id, "skipped", exc.detail, digest, len(data))
        return Rejected(image_id, "failed", exc.detail, digest, len(data))
    except Exception as exc:  # a decoder bug on hostile input must not stop the run
        return Rejected(image_id, "failed", f"cannot decode: {type(exc).__name__}: {exc}", digest, len(data))
    return Prepared(
        image_id=image_id,
        sha256=digest,
        size=len(data),
        format=decoded.format,
        width=decoded.width,
        height=decoded.height,
        captured_at=decoded.captured_at,
        pixels=pixels,
        extras=extras,
        whole=whole,
        layout=layout,
    )


_RELEASED = PILImage.new("RGB", (1, 1))


@dataclass(frozen=True)
class VideoOptions:
    """How `prepare_file` treats videos: limits, the larger read size, and the video row's extractors."""

    limits: VideoLimits
    max_bytes: int
    thumbnail_sizes: tuple[int, ...]
    extractors: Sequence[Extractor] = ()


def _prepare_video(
    source: BucketSource,
    image_id: int,
    key: str,
    data: bytes,
    digest: str,
    fmt: str,
    preprocessor: Preprocessor,
    video: VideoOptions,
) -> PreparedVideo | Rejected:
    try:
        sample = sample_video(data, fmt, video.limits)
        prepared, decoded = prepare_video(
            image_id, digest, len(data), sample, preprocessor, video.thumbnail_sizes
        )
        extras = {ex.name: ex.extract(source, key, data, decoded) for ex in video.extractors}
    except DecodeError as exc:
        return Rejected(image_id, "failed", exc.detail, digest, len(data))
    except Exception as exc:  # a decoder bug on hostile input must not stop the run
        return Rejected(
            image_id, "failed", f"cannot decode video: {type(exc).__name__}: {exc}", digest, len(data)
        )
    prepared.extras = extras
    # The previews made their model inputs, thumbnails and signatures: let them go, so a long
    # video in flight holds its pieces' model inputs only.
    for piece in sample.pieces:
        piece.image = _RELEASED
    return prepared


@dataclass(frozen=True)
class SegmentFrame:
    """A segment whose representative frame is decoded again (`pixseek reindex`)."""

    image_id: int
    time: float
    format: str
    sha256: str


def segment_frames(
    source: BucketSource,
    video_key: str,
    frames: Sequence[SegmentFrame],
    preprocessor: Preprocessor,
    settings: Settings,
) -> list[Prepared | Rejected]:
    """The model inputs of these segments' frames, decoded again from their video (read once)."""
    try:
        data = source.read(video_key, max(settings.max_file_bytes, settings.video.max_bytes))
    except SourceError as exc:
        return [Rejected(f.image_id, "failed", exc.detail) for f in frames]
    limits = video_limits(settings, preprocessor.image_size)
    out: list[Prepared | Rejected] = []
    for f in frames:
        try:
            image = frame_at(data, f.format, f.time, limits)
        except DecodeError as exc:
            out.append(Rejected(f.image_id, "failed", exc.detail))
            continue
        pixels, _ = preprocessor(image, image.size)
        out.append(
            Prepared(
                image_id=f.image_id,
                sha256=f.sha256,
                size=len(data),
                format=f.format,
                width=image.width,
                height=image.height,
                captured_at=None,
                pixels=pixels,
            )
        )
    return out


def lower_thread_priority(niceness: int = 10) -> None:
    """Make the calling thread yield the CPU to others (Linux: threads have their own nice).

    Decode threads need ~5% of the CPU the model needs and work ahead of it, so they lose
    nothing by running in the model's gaps. At normal priority they can preempt one of
    torch's threads, and a forward pass then waits at its next barrier for that thread.
    (Its effect could not be isolated on the shared development machine: see
    docs/benchmarks.md.)
    """
    # Not Linux, or not permitted: keep the priority.
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)


def model_feed(
    fn: Callable[[T], R], items: Iterable[T], *, workers: int, batch_size: int, device: str
) -> Iterator[R]:
    """`ordered_map` as the model's feeders run it: decode threads below the model's priority.

    Up to two batches are decoded ahead of the model: while it encodes batch N, batch N+1 is
    complete and N+2 is being decoded. Memory stays bounded at about four batches of model
    input (two prefetched, one in the model, one being written).
    """
    return ordered_map(
        fn,
        items,
        workers=workers or min(8, (os.cpu_count() or 2)),
        prefetch=2 * batch_size,
        initializer=lower_thread_priority if device != "cuda" else None,
    )


def ordered_map(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int,
    prefetch: int,
    initializer: Callable[[], None] | None = None,
) -> Iterator[R]:
    """`map(fn, items)` on a thread pool, in input order, with at most `prefetch` in flight."""
    with ThreadPoolExecutor(
        max_workers=max(1, workers), thread_name_prefix="pixseek-decode", initializer=initializer
    ) as pool:
        pending: deque[Future[R]] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= prefetch:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
