"""Ingest as plain functions: plan a job, process images, publish the index.

The same functions run in-process on the embedded default and inside Celery tasks in
distributed mode. Each step is keyed by ids and safe to repeat: processing only touches
images still `pending` for the job, and publishing converges on what SQL says.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from pixseek.core.db import ensure_schema, session_scope, utcnow
from pixseek.core.metrics import record_failed, record_ingested
from pixseek.core.settings import Settings
from pixseek.index.catalog import Image, ImageStatus, ImageVector
from pixseek.index.jobs import Job, JobStatus, get_job, new_job_id
from pixseek.index.patch_sync import ensure_store_patch_mode
from pixseek.index.patches import PatchStore
from pixseek.index.writer import PublishResult, publish_index
from pixseek.ingest.extractors import Extractor, active_extractors
from pixseek.ingest.pipeline import Prepared, Rejected, lower_thread_priority, ordered_map, prepare_file
from pixseek.media.sources import BucketSource, Entry, open_source
from pixseek.model.encoder import Encoder, embed_dim, get_encoder
from pixseek.model.identity import ModelId

log = logging.getLogger(__name__)

ProgressFn = Callable[[int], None]
ID_CHUNK = 500


@dataclass
class Plan:
    job_id: str
    bucket: str
    work: list[int] = field(default_factory=list)  # image ids to read and embed

    def batches(self, size: int) -> Iterator[list[int]]:
        it = iter(self.work)
        while batch := list(islice(it, size)):
            yield batch


def create_job(settings: Settings, bucket: str) -> str:
    ensure_schema(settings)
    job_id = new_job_id()
    with session_scope(settings) as session:
        session.add(Job(id=job_id, bucket=bucket, status=JobStatus.QUEUED))
    return job_id


def _unchanged(row: Image, entry: Entry, model: str) -> bool:
    return (
        row.status in (ImageStatus.INDEXED, ImageStatus.EMBEDDED)
        and row.model == model
        and row.size == entry.size
        and row.mtime == entry.mtime
        and row.etag == entry.etag
    )


def plan_job(settings: Settings, job_id: str, source: BucketSource) -> Plan:
    """List the bucket and decide, per file, what the job must do.

    New and changed files become `pending` for this job; files that vanished become
    `deleted` (their vectors and patches are dropped); hidden and special files are
    recorded `skipped` and refused symlinks `failed`, with the reason, and lose any vectors
    and patches an earlier run stored for them. Unchanged files
    (same size, mtime, ETag and model) are left alone.
    """
    model = ModelId.of(settings).key
    patches = PatchStore(settings.patch_dir)
    plan = Plan(job_id=job_id, bucket=source.bucket)
    with session_scope(settings) as session:
        job = get_job(session, job_id)
        job.status = JobStatus.RUNNING
        job.started_at = utcnow()
        existing = {
            row.key: row for row in session.scalars(select(Image).where(Image.bucket == source.bucket))
        }
        total = unchanged = 0
        pending_rows: list[Image] = []
        dropped_ids: list[int] = []  # known files now skipped or refused: drop what they had stored
        for entry in source.list():
            total += 1
            row = existing.pop(entry.key, None)
            if (
                row is not None
                and entry.skip is None
                and entry.refuse is None
                and _unchanged(row, entry, model)
            ):
                unchanged += 1
                continue
            if row is None:
                row = Image(bucket=source.bucket, key=entry.key)
                session.add(row)
            row.size, row.mtime, row.etag = entry.size, entry.mtime, entry.etag
            row.job_id = job_id
            row.error = entry.skip or entry.refuse
            if entry.skip or entry.refuse:
                if row.id is not None:
                    dropped_ids.append(row.id)
                row.status = ImageStatus.SKIPPED if entry.skip else ImageStatus.FAILED
                row.model = None
            else:
                row.status = ImageStatus.PENDING
                pending_rows.append(row)
        deleted_ids = [row.id for row in existing.values() if row.status != ImageStatus.DELETED]
        for row in existing.values():
            if row.status != ImageStatus.DELETED:
                row.status = ImageStatus.DELETED
                row.job_id = job_id
        forgotten = deleted_ids + dropped_ids
        extractors = active_extractors(settings) if forgotten else []
        for start in range(0, len(forgotten), ID_CHUNK):
            part = forgotten[start : start + ID_CHUNK]
            session.execute(delete(ImageVector).where(ImageVector.image_id.in_(part)))
            for extractor in extractors:
                extractor.forget(session, part)
        session.flush()  # assigns ids to new rows
        plan.work = [row.id for row in pending_rows]
        job.total, job.planned, job.unchanged, job.deleted = (
            total,
            len(plan.work),
            unchanged,
            len(deleted_ids),
        )
    for image_id in forgotten:
        patches.delete(image_id)
    log.info(
        "ingest.planned job=%s bucket=%s total=%d work=%d unchanged=%d deleted=%d",
        job_id,
        source.bucket,
        total,
        len(plan.work),
        unchanged,
        len(deleted_ids),
    )
    return plan


def _pending_keys(settings: Settings, job_id: str, ids: list[int]) -> Iterator[tuple[int, str]]:
    for start in range(0, len(ids), ID_CHUNK):
        with session_scope(settings) as session:
            rows = session.execute(
                select(Image.id, Image.key)
                .where(
                    Image.id.in_(ids[start : start + ID_CHUNK]),
                    Image.job_id == job_id,
                    Image.status == ImageStatus.PENDING,
                )
                .order_by(Image.id)
            ).all()
        yield from ((int(i), str(k)) for i, k in rows)


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

    items: list[Prepared | Rejected]
    vectors: dict[int, bytes]  # image id -> float32 CLS vector, fresh and reused
    patches: dict[int, np.ndarray]  # image id -> patch grid, fresh images only
    copies: dict[int, int]  # image id -> id of an identical image whose patches it reuses


def _embed_chunk(settings: Settings, encoder: Encoder, items: list[Prepared | Rejected]) -> _Embedded:
    """Run the model on the images of a chunk whose bytes were never embedded before."""
    prepared = [item for item in items if isinstance(item, Prepared)]
    with session_scope(settings) as session:
        known = _known_vectors(session, sorted({p.sha256 for p in prepared}), encoder.model_id.key)
    # The session is closed before the forward pass: no connection is held while the model runs.
    # A copy of an image in the batch still being written is not seen yet and is encoded
    # again: the same vector, written twice, which costs a forward but is never wrong.
    fresh = [p for p in prepared if p.sha256 not in known]
    out = _Embedded(items=items, vectors={}, patches={}, copies={})
    if fresh:
        encoded = encoder.encode_pixels(np.stack([p.pixels for p in fresh]), settings.patch_mode)
        for i, item in enumerate(fresh):
            out.patches[item.image_id] = encoded.patches[i]
            out.vectors[item.image_id] = encoded.cls[i].astype("<f4").tobytes()
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
        outcomes: list[tuple[str, str | None]] = []  # for the metrics, once committed
        for item in items:
            row = rows.get(item.image_id)
            if row is None or row.job_id != job_id or row.status != ImageStatus.PENDING:
                continue  # another run of this batch got here first
            outcomes.append((item.status, item.reason) if isinstance(item, Rejected) else ("embedded", None))
            if isinstance(item, Rejected):
                row.status, row.error = item.status, item.reason
                row.sha256 = item.sha256
                row.model = None
                session.execute(delete(ImageVector).where(ImageVector.image_id == item.image_id))
                for extractor in extractors:
                    extractor.forget(session, [item.image_id])
                rejected.append(item.image_id)
                log.info("ingest.%s key=%s reason=%s", item.status, row.key, item.reason)
                continue
            patch = embedded.patches.get(item.image_id)
            if patch is None and item.image_id in embedded.copies:
                patch = patch_store.get(embedded.copies[item.image_id])
            if patch is not None:
                patch_store.put(item.image_id, patch)
            row.status, row.error = ImageStatus.EMBEDDED, None
            row.sha256, row.size, row.format = item.sha256, item.size, item.format
            row.width, row.height, row.captured_at = item.width, item.height, item.captured_at
            row.model = model
            row.grid_h, row.grid_w = encoder.grid
            row.embedded_at = now
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
    for image_id in rejected:
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
    ensure_store_patch_mode(settings.patch_dir, settings.patch_mode)  # issue 6: never mix patch modes
    workers = settings.decode_workers or min(8, (os.cpu_count() or 2))
    extractors = active_extractors(settings)

    def prepare(item: tuple[int, str]) -> Prepared | Rejected:
        image_id, key = item
        return prepare_file(
            source,
            image_id,
            key,
            encoder.preprocessor,
            max_bytes=settings.max_file_bytes,
            max_pixels=settings.max_image_pixels,
            extractors=extractors,
        )

    # Up to two batches decoded ahead of the model: while it encodes batch N, batch N+1 is
    # complete and N+2 is being decoded. Memory stays bounded at about four batches of
    # model input (two prefetched, one in the model, one being written).
    stream = ordered_map(
        prepare,
        _pending_keys(settings, job_id, image_ids),
        workers=workers,
        prefetch=2 * settings.batch_size,
        initializer=lower_thread_priority if settings.device != "cuda" else None,
    )
    done = 0
    with ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="pixseek-store", initializer=lower_thread_priority
    ) as writer:
        storing: Future[int] | None = None
        while chunk := list(islice(stream, settings.batch_size)):
            embedded = _embed_chunk(settings, encoder, chunk)
            if storing is not None:
                # At most one batch waits to be written: a slow database slows the model
                # down instead of letting finished batches pile up in memory.
                done += _finish(storing, on_progress)
            storing = writer.submit(
                _store_chunk, settings, encoder, job_id, embedded, patch_store, extractors
            )
        if storing is not None:
            done += _finish(storing, on_progress)
    return done


def _finish(storing: Future[int], on_progress: ProgressFn | None) -> int:
    count = storing.result()  # re-raises a failed write here, in the caller's thread
    if on_progress is not None:
        on_progress(count)
    return count


def pending_count(settings: Settings, job_id: str) -> int:
    """Images of the job still waiting to be read and embedded."""
    with session_scope(settings) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Image)
                .where(Image.job_id == job_id, Image.status == ImageStatus.PENDING)
            )
            or 0
        )


def pending_ids(settings: Settings, job_id: str) -> list[int]:
    """Ids of the job's images still pending, in id order (to dispatch them again)."""
    with session_scope(settings) as session:
        return [
            int(i)
            for i in session.scalars(
                select(Image.id)
                .where(Image.job_id == job_id, Image.status == ImageStatus.PENDING)
                .order_by(Image.id)
            )
        ]


def fail_pending(settings: Settings, job_id: str, image_ids: list[int], error: str) -> int:
    """Record the job's images among `image_ids` that are still pending as failed.

    Used when a batch keeps raising for a reason outside its files (a worker-side error):
    its images are reported instead of holding the job open forever, and the next ingest
    of the bucket plans them again.
    """
    failed = 0
    with session_scope(settings) as session:
        for start in range(0, len(image_ids), ID_CHUNK):
            result = session.execute(
                update(Image)
                .where(
                    Image.id.in_(image_ids[start : start + ID_CHUNK]),
                    Image.job_id == job_id,
                    Image.status == ImageStatus.PENDING,
                )
                .values(status=ImageStatus.FAILED, error=error, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            failed += int(getattr(result, "rowcount", 0) or 0)
    record_failed(failed, error)
    return failed


def finalize_job(settings: Settings, job_id: str) -> PublishResult | None:
    """Publish the index with the job's vectors and mark the job done.

    Safe to call more than once and at any time: a job that is already done, or that still
    has pending images (their batch finalizes when it ends), is left alone and None returned.
    """
    with session_scope(settings) as session:
        if get_job(session, job_id).status == JobStatus.DONE:
            return None
    if pending_count(settings, job_id):
        log.info("ingest.finalize_deferred job=%s: images still pending", job_id)
        return None
    result = publish_index(settings, ModelId.of(settings), empty_dim=lambda: embed_dim(settings.model))
    with session_scope(settings) as session:
        job = get_job(session, job_id)
        job.status = JobStatus.DONE
        job.finished_at = utcnow()
    log.info(
        "ingest.finalized job=%s generation=%s added=%d removed=%d count=%d",
        job_id,
        result.generation,
        result.added,
        result.removed,
        result.count,
    )
    return result


def fail_job(settings: Settings, job_id: str, error: str) -> None:
    with session_scope(settings) as session:
        job = get_job(session, job_id)
        job.status = JobStatus.FAILED
        job.error = error
        job.finished_at = utcnow()


def job_is_planned(settings: Settings, job_id: str) -> bool:
    """True once `plan_job` has committed for this job (its start time is set with the plan)."""
    with session_scope(settings) as session:
        return get_job(session, job_id).started_at is not None


def run_ingest(
    settings: Settings,
    uri: str,
    *,
    job_id: str | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    on_progress: ProgressFn | None = None,
) -> str:
    """Ingest a bucket in this process, start to finish; returns the job id."""
    source = open_source(uri, settings)
    job_id = job_id or create_job(settings, source.bucket)
    try:
        plan = plan_job(settings, job_id, source)
        if on_plan is not None:
            on_plan(plan)
        process_images(settings, job_id, source.bucket, plan.work, on_progress)
        finalize_job(settings, job_id)
    except BaseException as exc:
        fail_job(settings, job_id, f"{type(exc).__name__}: {exc}")
        raise
    return job_id
