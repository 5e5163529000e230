"""Videos: recognise them by content, sample their frames under bounds, cut them into pieces.

A video becomes a few *pieces* before any model sees it. Frames are sampled at
`sample_fps` and reduced to a 32x32 signature each; a new piece starts where a signature
jumps from the previous one (a cut), where it has drifted far from the piece's first frame
(a cross-fade, a pan, something appearing), or where the piece reaches `max_piece_seconds`
(a long static shot still gets a moment every so often). Each piece keeps its middle
frame, reduced for the model and the thumbnails: the model then runs once per piece,
not once per sampled frame (ingest/video.py merges pieces whose embeddings stay close).

Decoding is bounded per file: the frame size from the header (`max_pixels`), the video
time read (`max_seconds`), the wall time spent decoding (`max_decode_seconds`) and the
number of pieces (`max_pieces`, which lengthens pieces of long videos). A file that ends
early keeps what was decoded, with the reason; one that gives no frame is refused.
MP4, MOV, M4V, WebM, MKV and AVI go through FFmpeg's libraries (PyAV); animated GIF and
WebP through Pillow.
"""

from __future__ import annotations

import io
import logging
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
from typing import Any

import numpy as np
from PIL import Image, ImageSequence

from pixseek.media.decode import DecodeError

log = logging.getLogger(__name__)

VIDEO_FORMATS = ("MP4", "MOV", "M4V", "WEBM", "MKV", "AVI")
# Animated pictures are read as videos too, under their picture format's name.
ANIMATED_FORMATS = ("GIF", "WEBP")
VIDEO_MEDIA_TYPES: dict[str, str] = {
    "MP4": "video/mp4",
    "MOV": "video/quicktime",
    "M4V": "video/x-m4v",
    "WEBM": "video/webm",
    "MKV": "video/x-matroska",
    "AVI": "video/x-msvideo",
    "GIF": "image/gif",
    "WEBP": "image/webp",
}
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".qt", ".webm", ".mkv", ".avi", ".3gp"})
_QUICKTIME_BRANDS = frozenset({b"qt  "})
_M4V_BRANDS = frozenset({b"M4V ", b"M4VH", b"M4VP"})
_MP4_BRANDS = frozenset(
    {b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"dash", b"mmp4", b"MSNV"}
    | {b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"f4v ", b"XAVC", b"NDAS"}
)
SIGNATURE_SIDE = 32
_MAX_FRAME_RATE = 1000.0  # frames per second no camera records: a broken or hostile header


# A sampled frame: its time (seconds), its 32x32 signature, and how to get its preview.
Sampled = tuple[float, np.ndarray, Callable[[], Image.Image]]


class VideoError(DecodeError):
    """A video that gives no usable frame, and why."""


@dataclass(frozen=True)
class VideoLimits:
    """How a video is sampled and bounded (from `Settings.video`)."""

    sample_fps: float = 4.0
    max_piece_seconds: float = 8.0
    cut_threshold: float = 0.09  # mean absolute change of a signature (0..1) that is a cut
    drift_threshold: float = 0.08  # change from a piece's first frame that starts another
    min_drift_seconds: float = 1.0  # a drift never ends a piece shorter than this (it is rebased)
    max_seconds: float = 4 * 3600.0
    max_decode_seconds: float = 120.0
    max_pieces: int = 600
    max_pixels: int = 64_000_000
    preview_side: int = 336  # shortest side of the frames kept for the model and thumbnails


@dataclass
class Piece:
    """A stretch of video seen as one: its times in seconds and its middle frame."""

    start: float
    end: float
    time: float  # of the representative frame
    image: Image.Image  # RGB, shortest side about `preview_side`
    begins: str  # what began it: "start", "cut", "drift" or "length" (the length limit)


@dataclass
class VideoSample:
    """What sampling a video found."""

    format: str
    width: int
    height: int
    duration: float  # seconds decoded (the container's own claim is not trusted)
    pieces: list[Piece] = field(default_factory=list)
    frames_sampled: int = 0
    note: str | None = None  # why decoding stopped early, when it did


def sniff_video(head: bytes) -> str | None:
    """The container format named by a file's first bytes (at least 64 of them), or None."""
    if head[4:8] == b"ftyp" and len(head) >= 12:
        size = struct.unpack(">I", head[:4])[0]
        end = min(size, len(head)) if size >= 16 else 12
        brands = [head[8:12]] + [head[i : i + 4] for i in range(16, end - 3, 4)]
        major = brands[0]
        if major in _QUICKTIME_BRANDS:
            return "MOV"
        if major in _M4V_BRANDS:
            return "M4V"
        if any(b in _MP4_BRANDS or b in _M4V_BRANDS or b in _QUICKTIME_BRANDS for b in brands):
            return "MP4"
        return None
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip") and len(head) >= 8:
        return "MOV"  # an old QuickTime file without `ftyp`
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: Matroska, or WebM by its DocType
        return "WEBM" if b"webm" in head[:64] else "MKV"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    return None


def looks_like_video_name(key: str) -> bool:
    dot = key.rfind(".")
    return dot != -1 and key[dot:].lower() in VIDEO_EXTENSIONS


def animated_frames(data: bytes) -> int:
    """How many frames a GIF or WebP holds (1 for a still or an unreadable one)."""
    try:
        with Image.open(io.BytesIO(data), formats=("GIF", "WEBP")) as img:
            return int(getattr(img, "n_frames", 1))
    except Exception:
        return 1


def sample_video(data: bytes, fmt: str, limits: VideoLimits) -> VideoSample:
    """Sample a video (or an animated GIF or WebP) into pieces, within `limits`.

    Args:
        data: the whole file.
        fmt: its format, from `sniff_video` (or `GIF` / `WEBP` for animated pictures).
        limits: sampling and bounds.

    Raises:
        VideoError: no frame could be decoded, with the reason.
    """
    if fmt in ANIMATED_FORMATS:
        frames: Iterator[Sampled] = _pil_frames(data, fmt, limits)
        width, height = _pil_size(data, fmt)
    else:
        container, stream = _open(data, fmt, limits)
        width, height = stream.codec_context.width, stream.codec_context.height
        frames = _av_frames(container, stream, limits)
    sample = VideoSample(format=fmt, width=width, height=height, duration=0.0)
    _cut(frames, sample, limits)
    if not sample.pieces:
        raise VideoError(f"no video frame could be decoded from this {fmt} file" + _because(sample.note))
    return sample


def _because(note: str | None) -> str:
    return f" ({note})" if note else ""


def _open(data: bytes, fmt: str, limits: VideoLimits):  # type: ignore[no-untyped-def]
    import av  # FFmpeg's libraries: loaded only when a video is met

    try:
        container = av.open(io.BytesIO(data), mode="r", metadata_errors="ignore")
    except Exception as exc:  # av.FFmpegError and friends: a corrupt or unknown container
        raise VideoError(f"cannot open {fmt} video: {_short(exc)}") from exc
    streams = [s for s in container.streams.video if s.codec_context is not None]
    if not streams:
        container.close()
        raise VideoError(f"{fmt} file has no video stream")
    stream = streams[0]
    ctx = stream.codec_context
    width, height = int(ctx.width or 0), int(ctx.height or 0)
    if width <= 0 or height <= 0:
        container.close()
        raise VideoError(f"{fmt} video stream declares an invalid frame size {width}x{height}")
    if width * height > limits.max_pixels:
        container.close()
        raise VideoError(
            f"decompression bomb refused: {fmt} frames of {width}x{height} = {width * height} "
            f"pixels exceed the limit of {limits.max_pixels}"
        )
    rate = stream.average_rate or stream.guessed_rate
    if rate is not None and float(rate) > _MAX_FRAME_RATE:
        container.close()
        raise VideoError(f"{fmt} video declares {float(rate):.0f} frames per second: not a real video")
    stream.thread_type = "AUTO"
    return container, stream


def _short(exc: BaseException) -> str:
    return (str(exc).strip() or type(exc).__name__)[:200]


def _av_frames(container, stream, limits: VideoLimits) -> Iterator[Sampled]:  # type: ignore[no-untyped-def]
    """Frames at `sample_fps`, decoded in order; closes the container. The signature is made by
    FFmpeg's scaler (box filter) and the RGB preview only for the frames that become a piece's."""
    base = stream.time_base or Fraction(1, 90_000)
    start = stream.start_time or 0
    step = _step(limits, _claimed_seconds(container, stream))
    next_at = 0.0
    index = 0
    began = time.monotonic()
    try:
        for frame in container.decode(stream):
            index += 1
            t = float((frame.pts - start) * base) if frame.pts is not None else index / 25.0
            if t + 1e-6 < next_at:
                continue
            if t > limits.max_seconds:
                raise _Stop(f"stopped at the limit of {limits.max_seconds:.0f} s of video")
            if time.monotonic() - began > limits.max_decode_seconds:
                raise _Stop(f"stopped after {limits.max_decode_seconds:.0f} s of decoding, at {t:.1f} s")
            next_at = t + step
            small = frame.reformat(
                width=SIGNATURE_SIDE, height=SIGNATURE_SIDE, format="rgb24", interpolation="AREA"
            ).to_ndarray()
            yield t, small.astype(np.float32) / 255.0, partial(_frame_preview, frame, limits.preview_side)
    except _Stop:
        raise
    except Exception as exc:  # a truncated or corrupt stream: keep what was decoded
        raise _Stop(f"decoding stopped: {_short(exc)}") from exc
    finally:
        container.close()


class _Stop(Exception):
    """Decoding ends early; the message says why."""


def _claimed_seconds(container, stream) -> float | None:  # type: ignore[no-untyped-def]
    """The duration the header claims (only to space samples: never trusted as a bound)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / 1_000_000
    return None


def _step(limits: VideoLimits, claimed: float | None) -> float:
    """Seconds between samples: `1 / sample_fps`, longer for a video so long that sampling
    at that rate would decode more than eight samples per allowed piece."""
    step = 1.0 / limits.sample_fps
    if claimed is not None and 0 < claimed <= limits.max_seconds:
        step = max(step, claimed / (8 * limits.max_pieces))
    return step


def frame_at(data: bytes, fmt: str, seconds: float, limits: VideoLimits) -> Image.Image:
    """The frame a video shows at `seconds` (the first at or after it), full size, RGB: a
    segment's representative frame, for heatmaps drawn over it.

    Raises:
        VideoError: no frame could be decoded there.
    """
    try:
        if fmt in ANIMATED_FORMATS:
            with Image.open(io.BytesIO(data), formats=(fmt,)) as img:
                t = 0.0
                for frame in ImageSequence.Iterator(img):
                    frame.load()
                    t += max(float(frame.info.get("duration", 100) or 100), 20.0) / 1000.0
                    if t > seconds + 1e-6:
                        return frame.convert("RGB")
            raise VideoError(f"no frame at {seconds:.2f} s")
        container, stream = _open(data, fmt, limits)
        try:
            base = stream.time_base or Fraction(1, 90_000)
            start = stream.start_time or 0
            container.seek(int(seconds / base) + start, stream=stream, backward=True)
            last = None
            for n, frame in enumerate(container.decode(stream)):
                t = float((frame.pts - start) * base) if frame.pts is not None else 0.0
                last = frame
                if t >= seconds - 1e-3 or n > 100_000:
                    break
            if last is None:
                raise VideoError(f"no frame at {seconds:.2f} s")
            return last.to_image()
        finally:
            container.close()
    except VideoError:
        raise
    except Exception as exc:
        raise VideoError(f"cannot decode the frame at {seconds:.2f} s: {_short(exc)}") from exc


def _pil_size(data: bytes, fmt: str) -> tuple[int, int]:
    with Image.open(io.BytesIO(data), formats=(fmt,)) as img:
        return img.size


def _same(image: Image.Image) -> Image.Image:
    return image


def _frame_preview(frame: Any, side: int) -> Image.Image:
    return _preview(frame.to_image(), side)


def _pil_frames(data: bytes, fmt: str, limits: VideoLimits) -> Iterator[Sampled]:
    """(seconds, preview) of an animated picture's frames at `sample_fps` (GIF and WebP durations)."""
    img = Image.open(io.BytesIO(data), formats=(fmt,))
    width, height = img.size
    if width * height > limits.max_pixels:
        raise VideoError(f"decompression bomb refused: {fmt} frames of {width}x{height} pixels")
    t, next_at = 0.0, 0.0
    began = time.monotonic()
    try:
        for frame in ImageSequence.Iterator(img):
            frame.load()  # WebP tells a frame's duration once it is loaded
            duration = max(float(frame.info.get("duration", 100) or 100), 20.0) / 1000.0
            preview = None
            # A frame shown for long (GIF writers merge repeated frames) is sampled as often as it shows.
            while next_at < t + duration - 1e-6:
                if next_at > limits.max_seconds or time.monotonic() - began > limits.max_decode_seconds:
                    raise _Stop(f"stopped at {next_at:.1f} s (limit)")
                preview = preview or _preview(frame.convert("RGB"), limits.preview_side)
                yield next_at, signature(preview), partial(_same, preview)
                next_at += 1.0 / limits.sample_fps
            t += duration
    except _Stop:
        raise
    except Exception as exc:
        raise _Stop(f"decoding stopped: {_short(exc)}") from exc
    finally:
        img.close()


def _preview(image: Image.Image, side: int) -> Image.Image:
    w, h = image.size
    scale = side / min(w, h)
    if scale < 1:
        image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR)
    return image if image.mode == "RGB" else image.convert("RGB")


def signature(image: Image.Image) -> np.ndarray:
    """A frame reduced to 32x32 RGB in 0..1: what cuts and drifts are measured on."""
    small = image.resize((SIGNATURE_SIDE, SIGNATURE_SIDE), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def _cut(frames: Iterator[Sampled], sample: VideoSample, limits: VideoLimits) -> None:
    """Fill `sample.pieces` from the sampled frames (online: one piece's frames held at a time).

    A cut ends a piece halfway between its two samples. A drift (a cross-fade, a pan) is
    seen late, once the change from the piece's first frame adds up past `drift_threshold`:
    the piece then ends at the first frame that looks more like the newest than like the
    first (a fade's middle). A drift within `min_drift_seconds` of a piece's start is the
    transition that began it: the piece is measured from the newest frame on instead.
    """
    current: list[tuple[float, Callable[[], Image.Image], np.ndarray]] = []  # (seconds, preview, signature)
    first_sig = last_sig = np.zeros(0, dtype=np.float32)
    begins = "start"
    last_t, gap = 0.0, 1.0 / limits.sample_fps

    def close(frames: list[tuple[float, Callable[[], Image.Image], np.ndarray]], end: float) -> None:
        t, picture, _ = frames[len(frames) // 2]
        sample.pieces.append(Piece(frames[0][0], end, t, picture(), begins))

    try:
        for t, sig, picture in frames:
            if not current:
                first_sig = sig
            else:
                cut = _distance(sig, last_sig) > limits.cut_threshold
                drift = not cut and _distance(sig, first_sig) > limits.drift_threshold
                if drift and t - current[0][0] < limits.min_drift_seconds:
                    drift, first_sig = False, sig
                if cut or drift or t - current[0][0] >= limits.max_piece_seconds:
                    if len(sample.pieces) + 1 >= limits.max_pieces:
                        raise _Stop(f"stopped at the limit of {limits.max_pieces} pieces, at {t:.1f} s")
                    k = len(current)
                    if drift:
                        k = next(
                            (
                                i
                                for i, f in enumerate(current)
                                if i and _distance(f[2], sig) < _distance(f[2], first_sig)
                            ),
                            k,
                        )
                    # A cut lies between the two samples; a drift at the frame found above.
                    close(current[:k], (last_t + t) / 2 if cut else current[k][0] if k < len(current) else t)
                    current, first_sig = current[k:], sig
                    begins = "cut" if cut else "drift" if drift else "length"
                gap = t - last_t
            current.append((t, picture, sig))
            sample.frames_sampled += 1
            last_sig, last_t = sig, t
    except _Stop as stop:
        sample.note = str(stop)
    if current:
        close(current, last_t + max(gap, 1e-3))
    sample.pieces = _without_slivers(sample.pieces, limits.min_drift_seconds / 2)
    # Pieces are contiguous: each starts where the one before ended.
    for before, after in zip(sample.pieces, sample.pieces[1:], strict=False):
        after.start = before.end
    if sample.pieces:
        sample.pieces[0].start = 0.0
    sample.duration = sample.pieces[-1].end if sample.pieces else 0.0


def _without_slivers(pieces: list[Piece], shortest: float) -> list[Piece]:
    """Pieces with each run of slivers (pieces shorter than `shortest`: the frames of one
    transition, seen as several cuts or drifts) folded into one boundary at the run's middle."""
    kept: list[Piece] = []
    i = 0
    while i < len(pieces):
        piece = pieces[i]
        if not kept or piece.end - piece.start >= shortest:
            kept.append(piece)
            i += 1
            continue
        j = i
        while j < len(pieces) and pieces[j].end - pieces[j].start < shortest:
            j += 1
        run = pieces[i:j]
        if j == len(pieces):
            kept[-1].end = run[-1].end  # the video ends in a transition: the last piece takes it
            break
        middle = (run[0].start + run[-1].end) / 2
        kept[-1].end = pieces[j].start = middle
        if any(p.begins == "cut" for p in [*run, pieces[j]]):
            pieces[j].begins = "cut"
        kept.append(pieces[j])
        i = j + 1
    return kept
