"""Switch the model without downtime: embed the catalog again beside the served generation, then switch.

`pixseek reindex --model M --pretrained P` is a job (kind `reindex`) in four steps, each
safe to repeat, so an interrupted run is continued by running the same command again:

1. **embed**: every searchable image that has no vector of M for its current bytes is read,
   decoded and embedded by M; its CLS vector goes to `image_vectors` beside the served
   model's (keyed by image and model) and its patches to the new generation's own patch
   store under `<data dir>/models/<slug>/`. Files changed by ingests meanwhile are found by
   their sha256 and embedded again by the next pass.
2. **build**: the new generation's CLS and patch indexes are built from those vectors in
   its own folder (`index.writer.publish_staged`), under its own writer lock.
3. **switch**: `<data dir>/model.json` is replaced atomically (pixseek/core/active_model.py):
   from that moment every process that follows the switch searches, ingests and embeds
   queries with M. Then the catalog rows are told (`images.model`, grid), idempotently.
4. **drop** (`--drop-old`, later, on request): the replaced generations' vectors and files.

Searching keeps answering from the served generation until step 3, and from the new one
right after: a running `SearchService` follows `model.json` (search/service.py).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain, islice
from typing import Any

import numpy as np
from sqlalchemy import and_, delete, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from pixseek.core.active_model import ActiveModel, follow_switch, read_active_model, write_active_model
from pixseek.core.db import session_scope, utcnow
from pixseek.core.errors import InvalidRequest, PixseekError
from pixseek.core.settings import RANDOM_WEIGHTS, Settings
from pixseek.index.catalog.images import SEARCHABLE, SEGMENT_MARK, VIDEO, Image, ImageStatus, ImageVector
from pixseek.index.catalog.jobs import Job, JobKind, JobStatus, add_job, finish_job, get_job, record_failure
from pixseek.index.vectors.patch_store import PatchStore
from pixseek.index.vectors.patch_sync import effective_patch_mode, ensure_store_patch_mode
from pixseek.index.vectors.store import IndexStore
from pixseek.index.vectors.writer import PublishResult, publish_staged
from pixseek.ingest.pipeline import (
    Prepared,
    Rejected,
    SegmentFrame,
    lower_thread_priority,
    ordered_map,
    prepare_file,
    segment_frames,
)
from pixseek.media.sources import open_source
from pixseek.model.encoder import get_encoder
from pixseek.model.identity import ModelId
from pixseek.model.patch_tokens import check_patch_mode

log = logging.getLogger(__name__)

ProgressFn = Callable[[int], None]
# Passes over what is still missing before giving up on a catalog that keeps changing.
MAX_PASSES = 3


class ReindexIncomplete(PixseekError):
    """Images still lack a vector of the new model: the switch would drop them from search."""

    status_code = 409
    code = "reindex_incomplete"


def space_for(model: ModelId) -> str:
    """The folder (under the data dir) of a model's generation: readable, and unique per model."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", model.key.lower()).strip("-.")[:80] or "model"
    digest = hashlib.sha1(model.key.encode("utf-8")).hexdigest()[:8]
    return f"models/{slug}-{digest}"


def candidate_settings(settings: Settings, model: str, pretrained: str) -> Settings:
    """Settings for the generation of `model`/`pretrained`, beside the one `settings` serve."""
    pretrained = "none" if pretrained.strip().lower() in RANDOM_WEIGHTS else pretrained
    space = space_for(ModelId(model, pretrained))
    return settings.model_copy(update={"model": model, "pretrained": pretrained, "space": space})


@dataclass
class ReindexResult:
    job_id: str
    model: str
    embedded: int
    unreadable: int
    switched: bool
    generation: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "model": self.model,
            "embedded": self.embedded,
            "unreadable": self.unreadable,
            "switched": self.switched,
            "generation": self.generation,
        }


def _unfinished_reindex(session: Session, model_key: str) -> Job | None:
    jobs = session.scalars(
        select(Job)
        .where(Job.kind == JobKind.REINDEX, Job.status != JobStatus.DONE)
        .order_by(Job.created_at.desc())
    ).all()
    return next((job for job in jobs if (job.summary or {}).get("model") == model_key), None)


def start_reindex(active: Settings, candidate: Settings) -> str:
    """The job of this reindex: the unfinished one for the same model (resumed), or a new one."""
    new = ModelId.of(candidate)
    if new == ModelId.of(active):
        raise InvalidRequest(f"{new} is the model already served: nothing to re-index")
    with session_scope(active) as session:
        job = _unfinished_reindex(session, new.key)
        if job is not None:
            job.status, job.error, job.finished_at = JobStatus.RUNNING, None, None
            log.info("reindex.resumed job=%s model=%s", job.id, new)
            return job.id
        job_id = add_job(session, JobKind.REINDEX)
        session.flush()
        job = get_job(session, job_id)
        job.status, job.started_at = JobStatus.RUNNING, utcnow()
        job.summary = {
            "model": new.key,
            "from": ModelId.of(active).key,
            "space": candidate.space,
            "embedded": 0,
            "unreadable": [],
        }
        log.info("reindex.started job=%s model=%s from=%s", job_id, new, ModelId.of(active))
        return job_id


def missing_ids(session: Session, model: ModelId, *, exclude: set[int] | None = None) -> list[int]:
    """Searchable images without a vector of `model` made from their current bytes."""
    vector = aliased(ImageVector)
    has_vector = exists().where(
        and_(vector.image_id == Image.id, vector.model == model.key, vector.sha256 == Image.sha256)
    )
    # A video's own row holds no vector (its segments do): nothing to embed for it.
    holds_vector = or_(Image.media.is_(None), Image.media != VIDEO, Image.parent_id.is_not(None))
    ids = session.scalars(
        select(Image.id)
        .where(Image.status.in_(list(SEARCHABLE)), ~has_vector, holds_vector)
        .order_by(Image.id)
    ).all()
    return [int(i) for i in ids if not exclude or int(i) not in exclude]


def _unreadable(session: Session, job_id: str) -> set[int]:
    return {int(i) for i in (get_job(session, job_id).summary or {}).get("unreadable", [])}


def _note(session: Session, job_id: str, embedded: int, unreadable: list[int]) -> None:
    job = get_job(session, job_id, for_update=True)
    summary = dict(job.summary or {})
    summary["embedded"] = int(summary.get("embedded", 0)) + embedded
    summary["unreadable"] = sorted(set(summary.get("unreadable", [])) | set(unreadable))
    job.summary = summary


# A file to read (id, key), or a video and the frames of its segments to decode again.
_Work = tuple[int, str] | tuple[str, list[SegmentFrame]]


def embed_images(
    active: Settings,
    candidate: Settings,
    job_id: str,
    image_ids: list[int],
    on_progress: ProgressFn | None = None,
) -> int:
    """Embed these images with the candidate model, beside their served vectors; returns those stored.

    An image whose bytes changed since it was listed (its sha256 no longer the catalog's) is
    left for the next pass; one that cannot be read now is noted on the job as unreadable.
    """
    encoder = get_encoder(candidate)
    model = encoder.model_id
    patch_store = PatchStore(candidate.patch_dir)
    # Unset PIXSEEK_PATCH_MODE: the new generation's store decides, else the new model's best mode.
    patch_mode = check_patch_mode(effective_patch_mode(candidate))
    ensure_store_patch_mode(candidate.patch_dir, patch_mode, encoder.image_size)
    workers = active.decode_workers or min(8, (os.cpu_count() or 2))
    with session_scope(active) as session:
        rows = session.execute(
            select(
                Image.id, Image.bucket, Image.key, Image.parent_id, Image.frame_s, Image.format, Image.sha256
            )
            .where(Image.id.in_(image_ids))
            .order_by(Image.id)
        ).all()
    by_bucket: dict[str, list[_Work]] = {}
    videos: dict[tuple[str, str], list[SegmentFrame]] = {}
    for image_id, bucket, key, parent_id, frame_s, fmt, sha in rows:
        if parent_id is None:
            by_bucket.setdefault(bucket, []).append((int(image_id), key))
        else:  # a video's segment: its frame, decoded again from the video (one read per video)
            video_key = key.rsplit(SEGMENT_MARK, 1)[0]
            videos.setdefault((bucket, video_key), []).append(
                SegmentFrame(int(image_id), float(frame_s or 0.0), str(fmt or "MP4"), str(sha))
            )
    for (bucket, video_key), frames in videos.items():
        by_bucket.setdefault(bucket, []).append((video_key, frames))
    stored = 0
    for bucket, items in by_bucket.items():
        source = open_source(bucket, active)

        def prepare(item: _Work, source: Any = source) -> list[Prepared | Rejected]:
            if isinstance(item[0], str):
                video_key, frames = item
                return segment_frames(source, video_key, frames, encoder.preprocessor, active)
            image_id, key = item
            return [
                prepare_file(
                    source,
                    image_id,
                    key,
                    encoder.preprocessor,
                    max_bytes=active.max_file_bytes,
                    max_pixels=active.max_image_pixels,
                )
            ]

        stream = chain.from_iterable(
            ordered_map(
                prepare,
                items,
                workers=workers,
                prefetch=2 * active.batch_size,
                initializer=lower_thread_priority if active.device != "cuda" else None,
            )
        )
        while chunk := list(islice(stream, active.batch_size)):
            prepared = [item for item in chunk if isinstance(item, Prepared)]
            unreadable = [item.image_id for item in chunk if isinstance(item, Rejected)]
            encoded = (
                encoder.encode_pixels(np.stack([p.pixels for p in prepared]), patch_mode)
                if prepared
                else None
            )
            done = 0
            with session_scope(active) as session:
                current = dict(
                    session.execute(
                        select(Image.id, Image.sha256).where(
                            Image.id.in_([p.image_id for p in prepared]), Image.status.in_(list(SEARCHABLE))
                        )
                    ).all()
                )
                for i, item in enumerate(prepared):
                    if current.get(item.image_id) != item.sha256 or encoded is None:
                        continue  # changed (or gone) since it was listed: the next pass sees it
                    patch_store.put(item.image_id, encoded.patches[i])
                    session.merge(
                        ImageVector(
                            image_id=item.image_id,
                            model=model.key,
                            dim=encoder.dim,
                            sha256=item.sha256,
                            vector=encoded.cls[i].astype("<f4").tobytes(),
                        )
                    )
                    done += 1
                _note(session, job_id, done, unreadable)
            stored += done
            if on_progress is not None:
                on_progress(len(chunk))
    return stored


def build_generation(candidate: Settings) -> PublishResult:
    """The candidate generation's CLS and patch indexes, from its stored vectors."""
    encoder = get_encoder(candidate)
    return publish_staged(candidate, encoder.model_id, encoder.dim, encoder.grid)


def switch_to(active: Settings, candidate: Settings, job_id: str) -> None:
    """The atomic switch to the candidate generation, then the catalog's bookkeeping.

    Raises:
        ReindexIncomplete: a searchable image still lacks a vector of the new model.
    """
    new = ModelId.of(candidate)
    with session_scope(active) as session:
        unreadable = _unreadable(session, job_id)
        left = missing_ids(session, new, exclude=unreadable)
    if left:
        raise ReindexIncomplete(
            f"{len(left)} images still lack a vector of {new} (changed while re-indexing): "
            "run the same `pixseek reindex` again"
        )
    record = read_active_model(active.data_dir)
    replaces: dict[str, str | None] = dict(record.replaces) if record is not None else {}
    replaces[ModelId.of(active).key] = active.space
    replaces.pop(new.key, None)
    # Under the new generation's writer lock: its first ingest publishes after the catalog knows.
    with IndexStore(candidate.index_dir).lock():
        write_active_model(
            active.data_dir,
            ActiveModel(model=new.name, pretrained=new.pretrained, space=candidate.space, replaces=replaces),
        )
        log.info("reindex.switched model=%s space=%s", new, candidate.space)
        settle_switch(candidate, job_id, unreadable)


def settle_switch(served: Settings, job_id: str | None = None, unreadable: set[int] | None = None) -> int:
    """Tell the catalog which model its images are served with now (idempotent); returns rows changed.

    Images that could not be read for the new model are no longer searchable: recorded
    failed with the reason, so the next ingest tries them again.
    """
    model = ModelId.of(served)
    grid = get_encoder(served).grid
    vector = aliased(ImageVector)
    with session_scope(served) as session:
        result = session.execute(
            update(Image)
            .where(
                Image.status.in_(list(SEARCHABLE)),
                Image.model.is_distinct_from(model.key),
                exists().where(
                    and_(
                        vector.image_id == Image.id, vector.model == model.key, vector.sha256 == Image.sha256
                    )
                ),
            )
            .values(model=model.key, grid_h=grid[0], grid_w=grid[1], updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        changed = int(getattr(result, "rowcount", 0) or 0)
        # Videos' own rows (no vector) are served with the model their segments now are.
        session.execute(
            update(Image)
            .where(
                Image.status.in_(list(SEARCHABLE)),
                Image.media == VIDEO,
                Image.parent_id.is_(None),
                Image.model.is_distinct_from(model.key),
            )
            .values(model=model.key, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if unreadable:
            session.execute(
                update(Image)
                .where(Image.id.in_(sorted(unreadable)), Image.model.is_distinct_from(model.key))
                .values(
                    status=ImageStatus.FAILED,
                    error=f"could not be read again for the switch to {model}",
                    model=None,
                    updated_at=utcnow(),
                )
                .execution_options(synchronize_session=False)
            )
        if job_id is not None:
            job = get_job(session, job_id)
            if job.status != JobStatus.DONE:
                finish_job(job, {**(job.summary or {}), "switched_at": utcnow().isoformat()})
    return changed


def run_reindex(
    settings: Settings,
    model: str,
    pretrained: str,
    *,
    switch: bool = True,
    on_progress: ProgressFn | None = None,
) -> ReindexResult:
    """Re-index the catalog with `model`/`pretrained` in this process, and switch when complete.

    Args:
        settings: the process's settings (they follow any earlier switch).
        model, pretrained: the new open_clip architecture and weights.
        switch: switch once every image has its new vector (else stop after building).
        on_progress: called with the number of images each batch took.

    Raises:
        InvalidRequest: `model` is the one already served.
        ReindexIncomplete: the catalog kept changing through every pass.
    """
    active = follow_switch(settings)
    candidate = candidate_settings(active, model, pretrained)
    new = ModelId.of(candidate)
    if new == ModelId.of(active):
        # Already served (a run that switched and then stopped): finish the catalog's bookkeeping.
        settle_switch(active)
        return ReindexResult(job_id="", model=new.key, embedded=0, unreadable=0, switched=True)
    job_id = start_reindex(active, candidate)
    try:
        for _ in range(MAX_PASSES):
            with session_scope(active) as session:
                todo = missing_ids(session, new, exclude=_unreadable(session, job_id))
            if not todo:
                break
            for start in range(0, len(todo), active.task_batch_size):
                embed_images(
                    active, candidate, job_id, todo[start : start + active.task_batch_size], on_progress
                )
        built = build_generation(candidate)
        if switch:
            switch_to(active, candidate, job_id)
    except BaseException as exc:
        record_failure(active, job_id, f"{type(exc).__name__}: {exc}")
        raise
    with session_scope(active) as session:
        summary = get_job(session, job_id).summary or {}
    return ReindexResult(
        job_id=job_id,
        model=new.key,
        embedded=int(summary.get("embedded", 0)),
        unreadable=len(summary.get("unreadable", [])),
        switched=switch,
        generation=built.generation,
    )


def drop_old(settings: Settings) -> list[str]:
    """Remove the generations a switch replaced (vectors in SQL, index and patch files); their keys."""
    record = read_active_model(settings.data_dir)
    if record is None:
        return []
    dropped = [key for key, space in record.replaces.items() if space is not None]
    if not dropped:
        return []
    settle_switch(follow_switch(settings))  # a switch that stopped before telling the catalog
    with session_scope(settings) as session:
        session.execute(delete(ImageVector).where(ImageVector.model.in_(dropped)))
    for key in dropped:
        space = record.replaces[key]
        assert space is not None
        root = settings.data_dir / space
        if space == record.space:
            continue  # never the served generation's files
        for folder in (root / "index", root / "patches"):
            shutil.rmtree(folder, ignore_errors=True)
        if space:
            shutil.rmtree(root, ignore_errors=True)
        log.info("reindex.dropped model=%s space=%s", key, space or ".")
    # Remembered without a folder: settings still naming them follow the switch.
    record.replaces = {key: None for key in record.replaces}
    write_active_model(settings.data_dir, record)
    return dropped


# -- on the workers (cluster mode) ----------------------------------------------------------

REINDEX_BATCH_TASK = "pixseek.ingest.reindex_batch"
REINDEX_FINISH_TASK = "pixseek.ingest.reindex_finish"


def _send(settings: Settings, name: str, args: tuple[Any, ...], queue: str) -> None:
    if settings.embedded:  # no broker: the step runs here, as the embedded ingest's finalize does
        if name == REINDEX_FINISH_TASK:
            run_finish(settings, *args)
        else:
            run_batch(settings, *args)
        return
    from pixseek.core.broker import celery_for

    celery_for(settings).send_task(name, args=args, queue=queue)


def dispatch_reindex(settings: Settings, model: str, pretrained: str, *, switch: bool = True) -> str:
    """Start (or resume) a reindex job on the workers: one batch task per `task_batch_size` images."""
    active = follow_switch(settings)
    candidate = candidate_settings(active, model, pretrained)
    job_id = start_reindex(active, candidate)
    with session_scope(active) as session:
        todo = missing_ids(session, ModelId.of(candidate), exclude=_unreadable(session, job_id))
    try:
        for start in range(0, len(todo), active.task_batch_size):
            batch = todo[start : start + active.task_batch_size]
            _send(active, REINDEX_BATCH_TASK, (job_id, model, pretrained, batch, switch), active.queue)
        if not todo:
            _send(active, REINDEX_FINISH_TASK, (job_id, model, pretrained, switch), active.writer_queue)
    except Exception as exc:
        record_failure(active, job_id, f"cannot send tasks to the broker: {exc}")
        raise
    log.info("reindex.dispatched job=%s images=%d", job_id, len(todo))
    return job_id


def run_batch(
    settings: Settings, job_id: str, model: str, pretrained: str, ids: list[int], switch: bool
) -> int:
    """A worker's batch: embed what is still missing among `ids`; the batch that sees none left finishes."""
    active = follow_switch(settings)
    candidate = candidate_settings(active, model, pretrained)
    new = ModelId.of(candidate)
    if new == ModelId.of(active):
        return 0  # switched already (a redelivered batch)
    with session_scope(active) as session:
        todo = sorted(set(missing_ids(session, new, exclude=_unreadable(session, job_id))) & set(ids))
    done = embed_images(active, candidate, job_id, todo) if todo else 0
    with session_scope(active) as session:
        left = missing_ids(session, new, exclude=_unreadable(session, job_id))
    if not left:  # two batches may both see none left: finishing is idempotent
        _send(active, REINDEX_FINISH_TASK, (job_id, model, pretrained, switch), active.writer_queue)
    return done


def run_finish(settings: Settings, job_id: str, model: str, pretrained: str, switch: bool) -> None:
    """The writer's step: build the new generation's indexes, then switch (once)."""
    active = follow_switch(settings)
    candidate = candidate_settings(active, model, pretrained)
    if ModelId.of(candidate) == ModelId.of(active):
        settle_switch(active, job_id)  # another finish switched first
        return
    built = build_generation(candidate)
    with session_scope(active) as session:
        job = get_job(session, job_id)
        job.summary = {**(job.summary or {}), "built_generation": built.generation}
    if switch:
        switch_to(active, candidate, job_id)
