"""Create a job and plan it: list the bucket and decide, per file, what the job must do."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import islice

from sqlalchemy import delete, select

from pixseek.core.active_model import serving_model_keys
from pixseek.core.db import ensure_schema, in_chunks, session_scope, utcnow
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image, ImageStatus, ImageVector
from pixseek.index.catalog.jobs import (
    Job,
    JobKind,
    JobStatus,
    get_job,
    last_touched,
    new_job_id,
    unfinished_jobs,
)
from pixseek.index.vectors.patch_store import PatchStore
from pixseek.ingest.extractors import active_extractors
from pixseek.ingest.video import forget_segments
from pixseek.media.sources import BucketSource, Entry

log = logging.getLogger(__name__)


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


def job_is_planned(settings: Settings, job_id: str) -> bool:
    """True once `plan_job` has committed for this job (its start time is set with the plan)."""
    with session_scope(settings) as session:
        return get_job(session, job_id).started_at is not None


def _unchanged(row: Image, entry: Entry, models: list[str]) -> bool:
    return (
        row.status in (ImageStatus.INDEXED, ImageStatus.EMBEDDED)
        and row.model in models
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
    # The served model's key, and around a `pixseek reindex` switch its pair's too.
    models = serving_model_keys(settings)
    patches = PatchStore(settings.patch_dir)
    plan = Plan(job_id=job_id, bucket=source.bucket)
    with session_scope(settings) as session:
        job = get_job(session, job_id, for_update=True)  # a cancel waits for the plan, or wins
        if job.status == JobStatus.CANCELLED:
            log.info("ingest.plan_skipped job=%s: cancelled", job_id)
            return plan
        job.status = JobStatus.RUNNING
        job.started_at = utcnow()
        existing = {
            row.key: row
            for row in session.scalars(
                # A video's segments are not files: they follow their video (ingest/video.py).
                select(Image).where(Image.bucket == source.bucket, Image.parent_id.is_(None))
            )
        }
        # Jobs of this bucket still under way: their embedded images are theirs to publish. One
        # that shows no life for `reconcile_seconds` ended without saying so (its failure could
        # not be recorded: a full disk under SQLite), and what it embedded is this job's.
        alive_since = utcnow() - timedelta(seconds=settings.reconcile_seconds)
        live_jobs = {
            other.id
            for other in unfinished_jobs(session, JobKind.INGEST, source.bucket)
            if other.id != job_id and last_touched(session, other) >= alive_since
        }
        total = unchanged = adopted = 0
        pending_rows: list[Image] = []
        dropped_ids: list[int] = []  # known files now skipped or refused: drop what they had stored
        for entry in source.list():
            total += 1
            row = existing.pop(entry.key, None)
            if (
                row is not None
                and entry.skip is None
                and entry.refuse is None
                and _unchanged(row, entry, models)
            ):
                if row.status == ImageStatus.EMBEDDED and row.job_id not in live_jobs:
                    # Embedded by a job that ended before publishing it (a full disk, a crash,
                    # a cancel): this job publishes it, so its summary counts it as indexed.
                    row.job_id = job_id
                    adopted += 1
                else:
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
        # A quarantined file is missing from its bucket on purpose: its row keeps its vectors
        # for an undo (search/duplicates/apply.py).
        gone = (ImageStatus.DELETED, ImageStatus.QUARANTINED)
        deleted_ids = [row.id for row in existing.values() if row.status not in gone]
        for row in existing.values():
            if row.status not in gone:
                row.status = ImageStatus.DELETED
                row.job_id = job_id
        forgotten = deleted_ids + dropped_ids
        extractors = active_extractors(settings) if forgotten else []
        for part in in_chunks(forgotten):
            session.execute(delete(ImageVector).where(ImageVector.image_id.in_(part)))
            for extractor in extractors:
                extractor.forget(session, part)
        forgotten += forget_segments(session, settings, forgotten, job_id)
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
        "ingest.planned job=%s bucket=%s total=%d work=%d unchanged=%d adopted=%d deleted=%d",
        job_id,
        source.bucket,
        total,
        len(plan.work),
        unchanged,
        adopted,
        len(deleted_ids),
    )
    return plan
