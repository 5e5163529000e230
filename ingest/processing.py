"""Process a job's pending images: read and decode them, run the model, store the results.

Safe to repeat: only images still `pending` for the job are touched, and a batch's rows
are locked and checked again before anything is written (see `_store_chunk`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import islice

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pixseek.core.db import session_scope, utcnow
from pixseek.core.metrics import record_ingested
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import VIDEO, Image, ImageStatus, ImageVector
from pixseek.index.vectors.patch_store import PatchStore
from pixseek.index.vectors.patch_sync import effective_patch_mode, ensure_store_patch_mode
from pixseek.ingest.extractors import Extractor, active_extractors, ingest_pass_extractors
from pixseek.ingest.pending import pending_keys
from pixseek.ingest.pipeline import (
    DeferredVideo,
    Prepared,
    Rejected,
    VideoOptions,
    lower_thread_priority,
    model_feed,
    prepare_deferred,
    prepare_media,
)
from pixseek.ingest.tagging import ensure_prompt_vectors
from pixseek.ingest.video import (
    PreparedVideo,
    Segment,
    embed_video,
    forget_segments,
    store_video,
    video_limits,
)
from pixseek.media.sources import open_source
from pixseek.model.encoder import Encoder, get_encoder
from pixseek.model.patch_tokens import PatchMode, check_patch_mode
from pixseek.model.preprocess import centre_draft_side
from pixseek.model.tiling import CENTRE, Coverage

log = logging.getLogger(__name__)

ProgressFn = Callable[[int], None]


def _known_vectors(session: Session, shas: list[str], model: str) -> dict[str, tuple[int, bytes]]:
    """Vectors already computed for identical bytes: exact copies are never embedded twice."""
    rows = session.execute(
        select(ImageVector.sha256, ImageVector.image_id, ImageVector.vector).where(
            ImageVector.sha256.in_(shas), ImageVector.model == model
        )
    ).all()
    return {sha: (int(image_id), blob) for sha, image_id, blob in rows}


@dataclass
class _Embedded:
    """One encoder batch after the model: what `_store_chunk` writes."""

    items: list[Prepared | PreparedVideo | Rejected]
    vectors: dict[int, bytes]  # image id -> float32 CLS vector, fresh and reused
    patches: dict[int, np.ndarray]  # image id -> patch grid, fresh images only
    copies: dict[int, int]  # image id -> id of an identical image whose patches it reuses
    layout: str  # how the fresh images' patch grids cover them (Image.patch_layout)
    segments: dict[int, list[Segment]] = field(default_factory=dict)  # video id -> its segments


def _embed_chunk(
    settings: Settings,
    encoder: Encoder,
    items: list[Prepared | PreparedVideo | Rejected],
    patch_mode: PatchMode,
) -> _Embedded:
    """Run the model on the images of a chunk whose bytes were never embedded before, and on
    the pieces of its videos."""
    prepared = [item for item in items if isinstance(item, Prepared)]
    with session_scope(settings) as session:
        known = _known_vectors(session, sorted({p.sha256 for p in prepared}), encoder.model_id.key)
    # The session is closed before the forward pass: no connection is held while the model runs.
    # A copy of an image in the batch still being written is not seen yet and is encoded
    # again: the same vector, written twice, which costs a forward but is never wrong.
    fresh = [p for p in prepared if p.sha256 not in known]
    whole = [p for p in fresh if p.whole is not None and p.layout is not None]
    out = _Embedded(
        items=items, vectors={}, patches={}, copies={}, layout=settings.region_coverage if whole else CENTRE
    )
    if fresh:
        # With patches over the whole picture, the centre pass only gives the CLS embedding:
        # `plain` skips the last-block variant its patches would need.
        mode: PatchMode = "plain" if whole else patch_mode
        encoded = encoder.encode_pixels(np.stack([p.pixels for p in fresh]), mode)
        for i, item in enumerate(fresh):
            if not whole:
                out.patches[item.image_id] = encoded.patches[i]
            out.vectors[item.image_id] = encoded.cls[i].astype("<f4").tobytes()
        grids = encoder.encode_whole_batch(
            [(p.whole, p.layout) for p in whole],  # type: ignore[misc]
            settings.region_coverage,
            patch_mode,
            settings.batch_size,
        )
        for item, grid in zip(whole, grids, strict=True):
            out.patches[item.image_id] = grid
    for video in (item for item in items if isinstance(item, PreparedVideo)):
        out.segments[video.image_id] = embed_video(
            encoder, video, patch_mode, settings.video.merge_similarity, settings.batch_size
        )
    for item in prepared:
        if item.sha256 in known:
            source_id, blob = known[item.sha256]
            out.vectors[item.image_id] = blob
            if source_id != item.image_id:
                out.copies[item.image_id] = source_id
    return out


def _store_chunk(
    settings: Settings,
    encoder: Encoder,
    job_id: str,
    embedded: _Embedded,
    patch_store: PatchStore,
    extractors: list[Extractor],
    forgetting: list[Extractor],
) -> int:
    model = encoder.model_id.key
    items = embedded.items
    with session_scope(settings) as session:
        # Lock the chunk's rows, in id order so two runs never deadlock, and decide on what
        # they say now: a redelivered copy of this batch running at the same time (a worker
        # presumed dead, a visibility timeout) waits here, then finds them no longer pending.
        # Patch files are written only for rows that pass, so a stale copy never overwrites
        # the patches of an image a newer job has re-embedded.
        rows = {
            row.id: row
            for row in session.scalars(
                select(Image)
                .where(Image.id.in_([item.image_id for item in items]))
                .order_by(Image.id)
                .with_for_update()
            )
        }
        now = utcnow()
        rejected: list[int] = []
        gone: list[int] = []  # segment rows no longer used: their patch files go after the commit
        outcomes: list[tuple[str, str | None]] = []  # for the metrics, once committed
        for item in items:
            row = rows.get(item.image_id)
            if row is None or row.job_id != job_id or row.status != ImageStatus.PENDING:
                continue  # another run of this batch got here first
            outcomes.append((item.status, item.reason) if isinstance(item, Rejected) else ("embedded", None))
            if row.media == VIDEO and not isinstance(item, PreparedVideo):
                # Was a video, is not one now: its segments go.
                gone += forget_segments(session, settings, [row.id], job_id)
                row.media = row.duration_s = row.start_s = row.end_s = None
            if isinstance(item, PreparedVideo):
                gone += store_video(
                    session,
                    settings,
                    row,
                    item,
                    embedded.segments[item.image_id],
                    model=model,
                    dim=encoder.dim,
                    job_id=job_id,
                    patch_store=patch_store,
                )
                session.execute(delete(ImageVector).where(ImageVector.image_id == item.image_id))
                for extractor in forgetting:
                    if extractor.name in item.extras:
                        extractor.store(session, item.image_id, item.extras[extractor.name])
                continue
            if isinstance(item, Rejected):
                row.status, row.error = item.status, item.reason
                row.sha256 = item.sha256
                row.model = None
                session.execute(delete(ImageVector).where(ImageVector.image_id == item.image_id))
                for extractor in forgetting:  # every stage's: an enriched image had thumbnails
                    extractor.forget(session, [item.image_id])
                rejected.append(item.image_id)
                log.info("ingest.%s key=%s reason=%s", item.status, row.key, item.reason)
                continue
            patch = embedded.patches.get(item.image_id)
            layout: str | None = embedded.layout
            if patch is None and item.image_id in embedded.copies:
                # A copy of an image embedded before: its patches, laid out as they were.
                source_id = embedded.copies[item.image_id]
                patch = patch_store.get(source_id)
                source = session.get(Image, source_id)
                layout = source.patch_layout if source is not None else None
            if patch is not None:
                patch_store.put(item.image_id, patch)
            row.status, row.error = ImageStatus.EMBEDDED, None
            row.sha256, row.size, row.format = item.sha256, item.size, item.format
            row.width, row.height, row.captured_at = item.width, item.height, item.captured_at
            row.model = model
            grid = (int(patch.shape[0]), int(patch.shape[1])) if patch is not None else encoder.grid
            row.grid_h, row.grid_w = grid
            row.patch_layout = layout if patch is not None else None
            row.embedded_at = now
            # The enrich job's to do (ingest/enrich.py); in one pass, done here.
            row.enriched_at = None if settings.searchable_first else now
            session.merge(
                ImageVector(
                    image_id=item.image_id,
                    model=model,
                    dim=encoder.dim,
                    sha256=item.sha256,
                    vector=embedded.vectors[item.image_id],
                )
            )
            for extractor in extractors:
                if extractor.name in item.extras:
                    extractor.store(session, item.image_id, item.extras[extractor.name])
    record_ingested(outcomes)
    for image_id in rejected + gone:
        patch_store.delete(image_id)
    return len(items)


def process_images(
    settings: Settings,
    job_id: str,
    bucket: str,
    image_ids: list[int],
    on_progress: ProgressFn | None = None,
) -> int:
    """Read, decode and embed the job's pending images among `image_ids`.

    A bad file is recorded `failed` (or `skipped` when it is not an image) with its reason
    and never stops the others. Results are committed every encoder batch, so a crash loses
    at most two batches of work (one encoded, one being written), which a re-run picks up.
    Returns the number processed.

    Three stages overlap so that the model never waits when it could work: decode threads
    prepare the next batches (`ordered_map`), this thread runs the model, and one writer
    thread commits the previous batch (SQL rows, patch files) while the model runs.
    """
    encoder = get_encoder(settings)
    source = open_source(bucket, settings)
    patch_store = PatchStore(settings.patch_dir)
    # Never mix patch modes in one store; record the input size region search places cells by.
    patch_mode = check_patch_mode(effective_patch_mode(settings))
    ensure_store_patch_mode(settings.patch_dir, patch_mode, encoder.image_size)
    log.info(
        "ingest.embedding job=%s runtime=%s patch_mode=%s",
        job_id,
        encoder.runtime_label(patch_mode),
        patch_mode,
    )
    extractors = ingest_pass_extractors(settings)
    forgetting = active_extractors(settings)
    if settings.tags.enabled:
        ensure_prompt_vectors(settings)  # for the index writer, which tags without the model
    coverage = Coverage.of(settings, encoder.image_size, encoder.grid[0])
    if settings.searchable_first:
        # One model pass per picture: CLS and centre patches; the enrich job does the rest.
        coverage = replace(coverage, method=CENTRE)

    video = (
        VideoOptions(
            limits=video_limits(settings, centre_draft_side(encoder.image_size)),
            max_bytes=settings.video.max_bytes,
            thumbnail_sizes=tuple(settings.thumbnail_ingest_sizes),
            extractors=forgetting,  # the video row gets every extra in this pass: no enrich job reads it
        )
        if settings.video.enabled
        else None
    )

    def prepare(item: tuple[int, str]) -> Prepared | PreparedVideo | DeferredVideo | Rejected:
        image_id, key = item
        return prepare_media(
            source,
            image_id,
            key,
            encoder.preprocessor,
            max_bytes=settings.max_file_bytes,
            max_pixels=settings.max_image_pixels,
            extractors=extractors,
            coverage=coverage,
            video=video,
        )

    stream = model_feed(
        prepare,
        pending_keys(settings, job_id, image_ids),
        workers=settings.decode_workers,
        batch_size=settings.batch_size,
        device=settings.device,
    )

    def chunks() -> Iterator[list[Prepared | PreparedVideo | Rejected]]:
        """The stream in model batches; each deferred video alone, read and sampled here, so
        that at most two videos are held at a time (one embedded, one being written)."""
        while chunk := list(islice(stream, settings.batch_size)):
            ready = [item for item in chunk if not isinstance(item, DeferredVideo)]
            if ready:
                yield ready
            for item in chunk:
                if isinstance(item, DeferredVideo):
                    assert video is not None  # deferred only with video options
                    yield [prepare_deferred(source, item, encoder.preprocessor, video)]

    done = 0
    with ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="pixseek-store", initializer=lower_thread_priority
    ) as writer:
        storing: Future[int] | None = None
        for chunk in chunks():
            embedded = _embed_chunk(settings, encoder, chunk, patch_mode)
            if storing is not None:
                # At most one batch waits to be written: a slow database slows the model
                # down instead of letting finished batches pile up in memory.
                done += _finish(storing, on_progress)
            storing = writer.submit(
                _store_chunk, settings, encoder, job_id, embedded, patch_store, extractors, forgetting
            )
        if storing is not None:
            done += _finish(storing, on_progress)
    return done


def _finish(storing: Future[int], on_progress: ProgressFn | None) -> int:
    count = storing.result()  # re-raises a failed write here, in the caller's thread
    if on_progress is not None:
        on_progress(count)
    return count
