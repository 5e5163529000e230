"""Videos in the ingest: sample a file into pieces, embed each piece once, merge pieces into
segments, and record each segment as a catalog item of its own beside the video's row.

A video's row (`images`, media `video`) keeps the file's facts and no vector; each segment
is a row whose parent is the video, keyed `<video key>#segment=<n>`, with its start and end
times and the CLS vector, centre patches and thumbnail of its representative frame. The
index writer, the patch index and search see segments as they see images; search groups
them back by video (search/moments.py). A changed video keeps its segment rows (by key) and
their ids; a shorter one marks the rest deleted; a deleted or failed video takes its
segments with it (`forget_segments`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pixseek.core.db import in_chunks, utcnow
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import VIDEO, Image, ImageStatus, ImageVector, segment_key
from pixseek.index.catalog.thumbnails import ThumbnailStore, forget_thumbnails, record_thumbnails
from pixseek.index.vectors.patch_store import PatchStore
from pixseek.ingest.hashes import SignatureExtractor
from pixseek.media.decode import Decoded
from pixseek.media.perceptual_hash import Signature, signature
from pixseek.media.thumbnailer import Thumb, make_thumbnails
from pixseek.media.video import Piece, VideoLimits, VideoSample
from pixseek.model.encoder import Encoder
from pixseek.model.patch_tokens import PatchMode
from pixseek.model.preprocess import Preprocessor

log = logging.getLogger(__name__)


def video_limits(settings: Settings, preview_side: int) -> VideoLimits:
    v = settings.video
    return VideoLimits(
        sample_fps=v.sample_fps,
        max_piece_seconds=v.max_piece_seconds,
        cut_threshold=v.cut_threshold,
        drift_threshold=v.drift_threshold,
        max_seconds=v.max_seconds,
        max_decode_seconds=v.max_decode_seconds,
        max_pieces=v.max_segments,
        max_pixels=settings.max_image_pixels,
        preview_side=preview_side,
    )


@dataclass
class PreparedVideo:
    """A video ready for the model: its pieces' model inputs and thumbnails."""

    image_id: int
    sha256: str
    size: int
    sample: VideoSample
    pixels: np.ndarray  # (pieces, 3, S, S): each piece's representative frame, centre crop
    thumbs: list[list[Thumb]]  # per piece
    signatures: list[Signature | None]  # per piece: duplicates across media (a photo that is a frame)
    extras: dict[str, Any] = field(default_factory=dict)  # the video row's, from its middle frame

    @property
    def format(self) -> str:
        return self.sample.format


def prepare_video(
    image_id: int,
    sha256: str,
    size: int,
    sample: VideoSample,
    preprocessor: Preprocessor,
    thumbnail_sizes: Sequence[int],
    signatures: bool = True,
) -> tuple[PreparedVideo, Decoded]:
    """Model inputs and thumbnails of each piece (on a decode thread), and the middle frame as
    a `Decoded` for the video row's extractors."""
    pixels = np.stack(
        [preprocessor(piece.image, (sample.width, sample.height))[0] for piece in sample.pieces]
    )
    thumbs = [make_thumbnails(piece.image, thumbnail_sizes) for piece in sample.pieces]
    signed = [signature(piece.image) if signatures else None for piece in sample.pieces]
    middle = sample.pieces[len(sample.pieces) // 2]
    decoded = Decoded(
        image=middle.image, format=sample.format, width=sample.width, height=sample.height, captured_at=None
    )
    return PreparedVideo(image_id, sha256, size, sample, pixels, thumbs, signed), decoded


@dataclass
class Segment:
    start: float
    end: float
    time: float
    cls: np.ndarray  # float32, unit
    patches: np.ndarray  # the representative frame's centre patch grid
    thumbs: list[Thumb]
    signature: Signature | None = None


# A drift (the picture changed gradually) is merged back only when the embeddings barely
# moved: a weak model sees many photos as alike, and a cross-fade must stay a boundary.
DRIFT_SIMILARITY = 0.99


def merge_pieces(pieces: Sequence[Piece], cls: np.ndarray, similarity: float) -> list[list[int]]:
    """Runs of consecutive piece indexes to merge: a piece begun by the length limit joins the
    run before it when its embedding is at least `similarity` (cosine) to the run's first
    piece; one begun by a drift, at `max(similarity, DRIFT_SIMILARITY)`; one begun by a cut never."""
    runs: list[list[int]] = []
    for i, piece in enumerate(pieces):
        needed = {"length": similarity, "drift": max(similarity, DRIFT_SIMILARITY)}.get(piece.begins)
        if runs and needed is not None and float(cls[i] @ cls[runs[-1][0]]) >= needed:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def embed_video(
    encoder: Encoder, video: PreparedVideo, patch_mode: PatchMode, similarity: float, batch_size: int
) -> list[Segment]:
    """One model pass per piece (in batches), then pieces merged into segments."""
    cls_parts, patch_parts = [], []
    for start in range(0, len(video.pixels), batch_size):
        encoded = encoder.encode_pixels(video.pixels[start : start + batch_size], patch_mode)
        cls_parts.append(encoded.cls)
        patch_parts.append(encoded.patches)
    cls = np.concatenate(cls_parts).astype(np.float32)
    patches = np.concatenate(patch_parts)
    pieces = video.sample.pieces
    segments = []
    for run in merge_pieces(pieces, cls, similarity):
        # The representative: the piece nearest the run's mean embedding.
        mean = cls[run].mean(axis=0)
        best = run[int(np.argmax(cls[run] @ mean))]
        segments.append(
            Segment(
                start=pieces[run[0]].start,
                end=pieces[run[-1]].end,
                time=pieces[best].time,
                cls=cls[best],
                patches=patches[best],
                thumbs=video.thumbs[best],
                signature=video.signatures[best],
            )
        )
    return segments


def _segment_sha(video_sha: str, n: int) -> str:
    """A segment's own content key: its vector is never shared with another file's by sha256."""
    return hashlib.sha256(f"{video_sha}:segment:{n}".encode()).hexdigest()


def store_video(
    session: Session,
    settings: Settings,
    row: Image,
    video: PreparedVideo,
    segments: list[Segment],
    *,
    model: str,
    dim: int,
    job_id: str,
    patch_store: PatchStore,
) -> list[int]:
    """Record a video's row and its segments (in the ingest's transaction); the ids of the
    segment rows that are no longer used (their patch files are the caller's to delete)."""
    now = utcnow()
    sample = video.sample
    row.status, row.error = ImageStatus.EMBEDDED, sample.note
    row.sha256, row.size, row.format = video.sha256, video.size, sample.format
    row.width, row.height, row.captured_at = sample.width, sample.height, None
    row.model, row.media, row.duration_s = model, VIDEO, sample.duration
    row.start_s, row.end_s = 0.0, sample.duration
    row.grid_h = row.grid_w = None  # no vector and no patches of its own
    row.patch_layout = None
    row.embedded_at = row.enriched_at = now  # nothing for the enrich job: made here
    existing = {child.key: child for child in session.scalars(select(Image).where(Image.parent_id == row.id))}
    thumbs = ThumbnailStore(settings.thumbnail_dir)
    for n, segment in enumerate(segments):
        key = segment_key(row.key, n)
        child = existing.pop(key, None)
        if child is None:
            child = Image(bucket=row.bucket, key=key, parent_id=row.id)
            session.add(child)
            session.flush()  # its id, for the vector and the patch file
        sha = _segment_sha(video.sha256, n)
        child.status, child.error, child.job_id = ImageStatus.EMBEDDED, None, job_id
        child.sha256, child.size, child.format = sha, None, sample.format
        child.width, child.height, child.captured_at = sample.width, sample.height, None
        child.model, child.media, child.duration_s = model, VIDEO, sample.duration
        child.start_s, child.end_s, child.frame_s = segment.start, segment.end, segment.time
        child.grid_h, child.grid_w = int(segment.patches.shape[0]), int(segment.patches.shape[1])
        child.patch_layout = "centre"
        child.embedded_at = child.enriched_at = now
        session.merge(
            ImageVector(
                image_id=child.id,
                model=model,
                dim=dim,
                sha256=sha,
                vector=segment.cls.astype("<f4").tobytes(),
            )
        )
        patch_store.put(child.id, segment.patches)
        if segment.thumbs:
            record_thumbnails(session, thumbs, child.id, sha, segment.thumbs)
        if segment.signature is not None:
            SignatureExtractor().store(session, child.id, segment.signature)
    stale = [child.id for child in existing.values() if child.status != ImageStatus.DELETED]
    _drop(session, settings, stale, job_id)
    log.info(
        "ingest.video key=%s duration=%.1f sampled=%d pieces=%d segments=%d%s",
        row.key,
        sample.duration,
        sample.frames_sampled,
        len(sample.pieces),
        len(segments),
        f" note={sample.note}" if sample.note else "",
    )
    return stale


def _drop(session: Session, settings: Settings, ids: list[int], job_id: str | None) -> None:
    if not ids:
        return
    for part in in_chunks(ids):
        session.execute(delete(ImageVector).where(ImageVector.image_id.in_(part)))
        for child in session.scalars(select(Image).where(Image.id.in_(part))):
            child.status = ImageStatus.DELETED
            if job_id is not None:
                child.job_id = job_id
    forget_thumbnails(session, ThumbnailStore(settings.thumbnail_dir), ids)
    SignatureExtractor().forget(session, ids)


def forget_segments(
    session: Session, settings: Settings, video_ids: Sequence[int], job_id: str | None
) -> list[int]:
    """Mark the segments of these videos deleted and drop their vectors and thumbnails; their
    ids (whose patch files the caller deletes once committed)."""
    ids: list[int] = []
    for part in in_chunks(list(video_ids)):
        ids += [
            int(i)
            for i in session.scalars(
                select(Image.id).where(Image.parent_id.in_(part), Image.status != ImageStatus.DELETED)
            )
        ]
    _drop(session, settings, ids, job_id)
    return ids
