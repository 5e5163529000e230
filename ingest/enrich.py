"""The enrich job: what an image gets once it is searchable.

With `PIXSEEK_SEARCHABLE_FIRST` (the default) an ingest runs the model once per picture, on
its centre crop, and publishes: the collection answers text and image queries after one pass,
about a third of the model work that patches over the whole picture need. This job does the
rest, for every searchable image whose `enriched_at` is still NULL: it reads each file again,
runs the enrich-stage extractors (thumbnails, duplicate signatures: `ingest/extractors.py`),
and, where patches should cover the whole picture (`PIXSEEK_REGION_COVERAGE`), embeds its
tiles and replaces the centre patches.

Crash-safe and resumable: an image is marked `enriched_at` only after the patch index that
holds its new patches is published (`index.vectors.writer.publish_patches`, at most every
`PIXSEEK_ENRICH_PUBLISH_SECONDS`), so a job that dies redoes at most that much work. An image
re-ingested meanwhile (other bytes) is left for the next job. In a cluster the job runs on
its own queue and yields to embedding: between batches, if an ingest has images pending, it
publishes what it did and sends itself again later, so new pictures become searchable first.
Region search answers throughout, from whole-picture patches where they exist and centre
patches elsewhere, and says how much is covered (the patch index manifest's `coverage`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice

import numpy as np
from sqlalchemy import Table, and_, bindparam, func, select, update
from sqlalchemy.sql.elements import ColumnElement

from pixseek.core.active_model import serving_model_keys
from pixseek.core.broker import celery_for
from pixseek.core.db import session_scope, utcnow
from pixseek.core.errors import PixseekError
from pixseek.core.faults import as_fault
from pixseek.core.locks import file_lock
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import SEARCHABLE, Image, ImageStatus
from pixseek.index.catalog.jobs import (
    Job,
    JobKind,
    JobStatus,
    add_job,
    add_to_summary,
    claim_job,
    failures_recorded,
    finish_job,
    get_job,
)
from pixseek.index.vectors.patch_store import PatchStore
from pixseek.index.vectors.patch_sync import effective_patch_mode, ensure_store_patch_mode
from pixseek.index.vectors.writer import publish_patches
from pixseek.ingest.extractors import ENRICH, Extractor, active_extractors
from pixseek.ingest.pipeline import Prepared, Rejected, lower_thread_priority, model_feed, prepare_file
from pixseek.media.sources import BucketSource, open_source
from pixseek.model.encoder import Encoder, get_encoder
from pixseek.model.patch_tokens import PatchMode, check_patch_mode
from pixseek.model.tiling import Coverage

log = logging.getLogger(__name__)

ENRICH_TASK = "pixseek.enrich.run"
PAGE = 1_000  # unenriched rows read per query
# In a cluster, a job that made way for an ingest sends itself again after this long.
YIELD_SECONDS = 10.0


@dataclass(frozen=True)
class _Todo:
    image_id: int
    bucket: str
    key: str
    sha256: str
    layout: str | None  # how its stored patches cover it now


@dataclass
class _Done:
    """Images enriched since the last publication, waiting to be marked."""

    marks: list[tuple[int, str]] = field(default_factory=list)  # (id, sha256 it was enriched from)
    refresh: list[int] = field(default_factory=list)  # ids whose patch files were rewritten
    unread: int = 0
    changed: int = 0


def _unenriched(settings: Settings) -> list[ColumnElement[bool]]:
    return [
        Image.status.in_(list(SEARCHABLE)),
        Image.enriched_at.is_(None),
        Image.sha256.is_not(None),
        Image.model.in_(serving_model_keys(settings)),
    ]


def unenriched_count(settings: Settings) -> int:
    """Searchable images of the served model still waiting for their enrichment."""
    with session_scope(settings) as session:
        return int(session.scalar(select(func.count()).select_from(Image).where(*_unenriched(settings))) or 0)


def ingest_waiting(settings: Settings) -> bool:
    """True while an ingest has images left to embed (the enrich job makes way for them)."""
    with session_scope(settings) as session:
        return (
            session.scalar(select(Image.id).where(Image.status == ImageStatus.PENDING).limit(1)) is not None
        )


def create_enrich_job(settings: Settings) -> str:
    with session_scope(settings) as session:
        return add_job(session, JobKind.ENRICH)


def _todo(settings: Settings) -> Iterator[_Todo]:
    """Every unenriched image, by id, a page per session (rows enriched meanwhile drop out)."""
    after = 0
    while True:
        with session_scope(settings) as session:
            rows = session.execute(
                select(Image.id, Image.bucket, Image.key, Image.sha256, Image.patch_layout)
                .where(*_unenriched(settings), Image.id > after)
                .order_by(Image.id)
                .limit(PAGE)
            ).all()
        if not rows:
            return
        for image_id, bucket, key, sha, layout in rows:
            yield _Todo(int(image_id), str(bucket), str(key), str(sha), layout)
        after = int(rows[-1][0])


class _Sources:
    """One open source per bucket, shared by the decode threads (sources are thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._open: dict[str, BucketSource | PixseekError] = {}

    def get(self, bucket: str) -> BucketSource:
        if bucket not in self._open:
            try:
                self._open[bucket] = open_source(bucket, self.settings)
            except PixseekError as exc:  # a bucket gone since the ingest: its files are unread
                self._open[bucket] = exc
        found = self._open[bucket]
        if isinstance(found, PixseekError):
            raise found
        return found


def run_enrich_job(
    settings: Settings, job_id: str, *, yield_to_ingest: bool = False
) -> dict[str, int] | None:
    """Enrich every searchable image that waits for it; the job's summary.

    With `yield_to_ingest` (a cluster worker), returns None without finishing the job as soon
    as an ingest has images pending, after publishing what it did: the caller sends it again.
    A cancelled job (`pixseek jobs cancel`) stops at its next publication, keeping what it did.
    """
    # One enrich job at a time per data dir: two would read and embed the same images.
    with file_lock(settings.data_dir / ".enrich.lock"):
        with session_scope(settings) as session:
            if claim_job(session, job_id) is None:
                return dict(get_job(session, job_id).summary or {})
            job = get_job(session, job_id)
            if not job.total:
                job.total = unenriched_count(settings)
        finished = _enrich(settings, job_id, yield_to_ingest)
        if _cancelled(settings, job_id):
            log.info("enrich.cancelled job=%s: what was done is kept", job_id)
            with session_scope(settings) as session:
                return dict(get_job(session, job_id).summary or {})
        if not finished:
            log.info("enrich.yielded job=%s: embedding work is waiting", job_id)
            return None
        with session_scope(settings) as session:
            job = get_job(session, job_id)
            summary = {"images": 0, "patches": 0, "unread": 0, "changed": 0, **(job.summary or {})}
            finish_job(job, summary)
    log.info("enrich.job_done job=%s images=%d patches=%d", job_id, summary["images"], summary["patches"])
    return summary


def _enrich(settings: Settings, job_id: str, yield_to_ingest: bool) -> bool:
    """The job's work; False when it stopped early to make way for an ingest."""
    encoder = get_encoder(settings)
    coverage = Coverage.of(settings, encoder.image_size, encoder.grid[0])
    patch_mode = check_patch_mode(effective_patch_mode(settings))
    ensure_store_patch_mode(settings.patch_dir, patch_mode, encoder.image_size)
    patch_store = PatchStore(settings.patch_dir)
    extractors = active_extractors(settings, ENRICH)
    sources = _Sources(settings)
    log.info(
        "enrich.start job=%s runtime=%s coverage=%s",
        job_id,
        encoder.runtime_label(patch_mode),
        coverage.method,
    )

    def prepare(todo: _Todo) -> tuple[_Todo, Prepared | Rejected]:
        wants_patches = coverage.whole and todo.layout != coverage.method
        try:
            source = sources.get(todo.bucket)
        except PixseekError as exc:
            return todo, Rejected(todo.image_id, "failed", exc.detail)
        return todo, prepare_file(
            source,
            todo.image_id,
            todo.key,
            encoder.preprocessor,
            max_bytes=settings.max_file_bytes,
            max_pixels=settings.max_image_pixels,
            extractors=extractors,
            coverage=coverage if wants_patches else None,
        )

    stream = model_feed(
        prepare,
        _todo(settings),
        workers=settings.decode_workers,
        batch_size=settings.batch_size,
        device=settings.device,
    )
    done = _Done()
    last_publish = time.monotonic()
    with ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="pixseek-enrich-store", initializer=lower_thread_priority
    ) as writer:
        storing: Future[_Done] | None = None
        while chunk := list(islice(stream, settings.batch_size)):
            grids = _embed(settings, encoder, chunk, coverage.method, patch_mode)
            if storing is not None:
                _absorb(done, storing.result())
            storing = writer.submit(_store, settings, chunk, grids, patch_store, extractors)
            due = time.monotonic() - last_publish >= settings.enrich_publish_seconds
            stop = (yield_to_ingest and ingest_waiting(settings)) or _cancelled(settings, job_id)
            if due or stop:
                _absorb(done, storing.result())
                storing = None
                _publish(settings, encoder, job_id, done)
                done, last_publish = _Done(), time.monotonic()
                if stop:
                    return False
        if storing is not None:
            _absorb(done, storing.result())
    _publish(settings, encoder, job_id, done)
    return True


def _cancelled(settings: Settings, job_id: str) -> bool:
    with session_scope(settings) as session:
        return get_job(session, job_id).status == JobStatus.CANCELLED


def _embed(
    settings: Settings,
    encoder: Encoder,
    chunk: list[tuple[_Todo, Prepared | Rejected]],
    method: str,
    patch_mode: PatchMode,
) -> dict[int, np.ndarray]:
    """Whole-picture patch grids of the chunk's images that need them (one batched pass)."""
    whole = [p for _, p in chunk if isinstance(p, Prepared) and p.whole is not None and p.layout is not None]
    grids = encoder.encode_whole_batch(
        [(p.whole, p.layout) for p in whole],  # type: ignore[misc]
        method,
        patch_mode,
        settings.batch_size,
    )
    return {p.image_id: grid for p, grid in zip(whole, grids, strict=True)}


def _store(
    settings: Settings,
    chunk: list[tuple[_Todo, Prepared | Rejected]],
    grids: dict[int, np.ndarray],
    patch_store: PatchStore,
    extractors: list[Extractor],
) -> _Done:
    """Write a chunk's patches and extras for rows still as they were read; what was done."""
    done = _Done()
    method = settings.region_coverage
    with session_scope(settings) as session:
        rows = {
            row.id: row
            for row in session.scalars(
                select(Image)
                .where(Image.id.in_([todo.image_id for todo, _ in chunk]))
                .order_by(Image.id)
                .with_for_update()
            )
        }
        for todo, item in chunk:
            row = rows.get(todo.image_id)
            if isinstance(item, Rejected):
                # Unreadable now (a moved file, an outage): left for the next job or ingest.
                done.unread += 1
                log.info("enrich.unread image=%d key=%s reason=%s", todo.image_id, todo.key, item.reason)
                continue
            current = row is not None and row.status in SEARCHABLE and row.enriched_at is None
            if not current or row is None or row.sha256 != todo.sha256 or item.sha256 != todo.sha256:
                done.changed += 1  # re-ingested, deleted or changed on disk since: not ours to finish
                continue
            grid = grids.get(todo.image_id)
            if grid is not None:
                patch_store.put(todo.image_id, grid)
                row.grid_h, row.grid_w = int(grid.shape[0]), int(grid.shape[1])
                row.patch_layout = method
            if grid is not None or row.patch_layout == method != "centre":
                # Also a grid written by a run that died before publishing it: the patch
                # index takes it again (re-adding one it holds already is harmless).
                done.refresh.append(todo.image_id)
            for extractor in extractors:
                if extractor.name in item.extras:
                    extractor.store(session, todo.image_id, item.extras[extractor.name])
            done.marks.append((todo.image_id, todo.sha256))
    return done


def _absorb(into: _Done, more: _Done) -> None:
    into.marks += more.marks
    into.refresh += more.refresh
    into.unread += more.unread
    into.changed += more.changed


def _publish(settings: Settings, encoder: Encoder, job_id: str, done: _Done) -> None:
    """Publish the patch index with the new grids, then mark their images enriched, counted."""
    if done.refresh:
        publish_patches(settings, encoder.model_id, done.refresh, enriching=len(done.marks))
    with session_scope(settings) as session:
        if done.marks:
            # Only rows still holding the bytes they were enriched from: a re-ingest meanwhile
            # reset them, and its new centre patches wait for the next job.
            table = Image.__table__
            assert isinstance(table, Table)
            session.execute(
                update(table)
                .where(
                    and_(
                        table.c.id == bindparam("enriched_id"),
                        table.c.sha256 == bindparam("enriched_sha"),
                        table.c.enriched_at.is_(None),
                    )
                )
                .values(enriched_at=utcnow()),
                [{"enriched_id": i, "enriched_sha": sha} for i, sha in done.marks],
            )
        add_to_summary(
            session,
            job_id,
            images=len(done.marks),
            patches=len(done.refresh),
            unread=done.unread,
            changed=done.changed,
        )
    if done.marks:
        log.info("enrich.published job=%s images=%d patches=%d", job_id, len(done.marks), len(done.refresh))


def follow_ingest_with_enrich(settings: Settings) -> str | None:
    """After an ingest: an enrich job when images wait for one; its id, or None.

    Embedded mode runs it here, now (a failure is recorded on the enrich job, never on the
    ingest, which is published already); cluster mode sends it to the enrich queue. A fault
    of the machine (a full disk, a lost database) still goes up as its one-line error: the
    user must free space or restore the server, and the next run finishes the job.
    """
    if unenriched_count(settings) == 0:
        return None
    with session_scope(settings) as session:
        # One queued job covers every image waiting when it runs: no second one behind it.
        queued = session.scalar(
            select(Job.id).where(Job.kind == JobKind.ENRICH, Job.status == JobStatus.QUEUED).limit(1)
        )
    if queued is not None and not settings.embedded:
        return str(queued)
    job_id = create_enrich_job(settings)
    if settings.embedded:
        try:
            with failures_recorded(settings, job_id):
                run_enrich_job(settings, job_id)
        except Exception as exc:
            log.exception("enrich.job_failed job=%s", job_id)
            fault = as_fault(exc)
            if fault is exc:
                raise
            if fault is not None:
                raise fault from exc
    else:
        send_enrich(settings, job_id)
    return job_id


def send_enrich(settings: Settings, job_id: str, countdown: float = 0.0) -> None:
    celery_for(settings).send_task(
        ENRICH_TASK, args=(job_id,), queue=settings.enrich_queue, countdown=countdown or None
    )
