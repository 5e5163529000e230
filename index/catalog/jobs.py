"""Jobs (ingests and duplicate detections): their SQL rows, progress and outcome.

An ingest's progress is counted from the catalog rows it touched; a detection's outcome
(images compared, pairs found, groups per tier) is kept on its row as `summary`.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, object_session
from sqlalchemy.sql.elements import ColumnElement

from pixseek.core.db import Base, UTCDateTime, session_scope, utcnow
from pixseek.core.errors import JobNotCancellable, JobNotFound
from pixseek.core.settings import Settings
from pixseek.index.catalog.events import record_event
from pixseek.index.catalog.images import SEARCHABLE, Image, ImageStatus

log = logging.getLogger(__name__)


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


# A job in one of these will not change again.
FINISHED = (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


class JobKind(enum.StrEnum):
    INGEST = "ingest"  # list a bucket, embed what changed, publish the index
    DUPLICATES = "duplicates"  # give images a signature, find pairs, rebuild the groups
    OCR = "ocr"  # read the text of images that lack it (after an ingest, when OCR is on)
    ENRICH = "enrich"  # whole-picture patches, thumbnails, signatures (after an ingest)
    REINDEX = "reindex"  # embed the catalog with another model beside the served one, then switch
    CURATION = "curation"  # a curation command or the map (search/curation/jobs.py)


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), default=JobKind.INGEST)
    bucket: Mapped[str] = mapped_column(Text)  # "" for a detection, which spans every bucket
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    # Fixed when the job is planned; the per-image outcomes are counted from the catalog.
    total: Mapped[int] = mapped_column(Integer, default=0)
    planned: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # Counts a job's steps record as they commit (a detection: backfilled, images, compared,
    # pairs_found, groups); an ingest counts its images from the catalog instead.
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When its tasks were last sent to the broker (dispatch, or the reconciler sending lost work again).
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def new_job_id() -> str:
    return uuid.uuid4().hex


def get_job(session: Session, job_id: str, *, for_update: bool = False) -> Job:
    job = session.get(Job, job_id, with_for_update=for_update)
    if job is None:
        raise JobNotFound(f"no job with id {job_id}")
    return job


def add_job(session: Session, kind: JobKind, bucket: str = "") -> str:
    """Record a queued job; returns its id."""
    job_id = new_job_id()
    session.add(Job(id=job_id, kind=kind, bucket=bucket, status=JobStatus.QUEUED))
    return job_id


def unfinished_ingest(session: Session, bucket: str, since: datetime) -> str | None:
    """The id of an ingest of `bucket` created after `since` that is still queued or running."""
    return session.scalar(
        select(Job.id)
        .where(
            Job.kind == JobKind.INGEST,
            Job.bucket == bucket,
            Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)),
            Job.created_at > since,
        )
        .order_by(Job.created_at.desc())
        .limit(1)
    )


def last_touched(session: Session, job: Job) -> datetime:
    """When the job last showed life: created, planned, its tasks sent, or an image of it stored."""
    last_image = session.scalar(select(func.max(Image.updated_at)).where(Image.job_id == job.id))
    return max(t for t in (job.created_at, job.started_at, job.dispatched_at, last_image) if t is not None)


def unfinished_jobs(session: Session, kind: JobKind, bucket: str | None = None) -> list[Job]:
    """Queued and running jobs of `kind` (of `bucket`, when given)."""
    query = select(Job).where(Job.kind == kind, Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)))
    if bucket is not None:
        query = query.where(Job.bucket == bucket)
    return list(session.scalars(query))


def claim_job(session: Session, job_id: str) -> Job | None:
    """Mark the job running; None when it is already done (its task was delivered again) or cancelled."""
    job = get_job(session, job_id)
    if job.status in (JobStatus.DONE, JobStatus.CANCELLED):
        return None
    job.status = JobStatus.RUNNING
    job.error = None
    if job.started_at is None:
        job.started_at = utcnow()
    return job


def add_to_summary(session: Session, job_id: str, **counts: int) -> None:
    """Add counts to the job's summary inside the caller's transaction.

    Committed with the work they count, so a step interrupted and run again neither loses
    nor double-counts what it had done.
    """
    # Locked, so that two runs of one step (a redelivered task) never lose each other's counts.
    job = get_job(session, job_id, for_update=True)
    summary = dict(job.summary or {})  # a new dict: the JSON column only sees reassignment
    for name, n in counts.items():
        summary[name] = int(summary.get(name, 0)) + n
    job.summary = summary


def finish_job(job: Job, summary: dict[str, Any] | None = None) -> None:
    if job.status == JobStatus.CANCELLED:
        return  # cancelled while its last step ran: what it stored stays, the job stays cancelled
    job.status = JobStatus.DONE
    job.error = None
    job.finished_at = utcnow()
    if summary is not None:
        job.summary = summary
    session = object_session(job)
    if session is not None:  # the webhook event, committed with the job's end
        record_event(session, "job.finished", _event(job))


def _event(job: Job) -> dict[str, Any]:
    return {"job_id": job.id, "kind": str(job.kind), "bucket": job.bucket, "status": str(job.status),
            "error": job.error, "summary": job.summary}  # fmt: skip


def record_failure(settings: Settings, job_id: str, error: str) -> None:
    """Mark the job failed with `error`, in a transaction of its own (a cancelled job stays cancelled)."""
    with session_scope(settings) as session:
        job = get_job(session, job_id)
        if job.status == JobStatus.CANCELLED:
            return
        job.status = JobStatus.FAILED
        job.error = error
        job.finished_at = utcnow()
        record_event(session, "job.failed", _event(job))
    # The caller reports the error itself (log, HTTP body, CLI message); this only notes it.
    log.info("jobs.failed job=%s error=%s", job_id, error)


def cancel_job(session: Session, job_id: str) -> Job:
    """Cancel a queued or running job: its pending images become `cancelled`, and its tasks,
    wherever they are, find nothing left to do (a batch already running stores what it has
    embedded; those images are published by the next ingest of the bucket).

    Raises JobNotCancellable when the job has finished.
    """
    job = get_job(session, job_id, for_update=True)
    if job.status in FINISHED:
        raise JobNotCancellable(f"job {job_id} is already {job.status}")
    job.status = JobStatus.CANCELLED
    job.error = "cancelled"
    job.finished_at = utcnow()
    session.execute(
        update(Image)
        .where(Image.job_id == job_id, Image.status == ImageStatus.PENDING)
        .values(status=ImageStatus.CANCELLED, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    log.info("jobs.cancelled job=%s kind=%s", job_id, job.kind)
    return job


@contextmanager
def failures_recorded(settings: Settings, job_id: str) -> Iterator[None]:
    """Run a job's steps; if one raises, the job is recorded failed with the error, which propagates."""
    try:
        yield
    except BaseException as exc:
        record_failure(settings, job_id, f"{type(exc).__name__}: {exc}")
        raise


@dataclass
class JobProgress:
    """What a job has done so far, from its row and the catalog rows it touched."""

    job_id: str
    bucket: str
    status: str
    total: int
    planned: int
    unchanged: int
    deleted: int
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    kind: str = JobKind.INGEST
    summary: dict[str, Any] | None = None

    @property
    def indexed(self) -> int:
        return self.counts.get(ImageStatus.INDEXED, 0) + self.counts.get(ImageStatus.EMBEDDED, 0)

    @property
    def failed(self) -> int:
        return self.counts.get(ImageStatus.FAILED, 0)

    @property
    def skipped(self) -> int:
        return self.counts.get(ImageStatus.SKIPPED, 0)

    @property
    def cancelled(self) -> int:
        return self.counts.get(ImageStatus.CANCELLED, 0)

    @property
    def done(self) -> int:
        """Files finished: every listed file no longer pending (skipped at planning included);
        for an enrich job, the images it enriched so far."""
        if self.kind == JobKind.ENRICH:
            return int((self.summary or {}).get("images", 0))
        if self.kind == JobKind.CURATION:
            return int((self.summary or {}).get("done", 0))
        # The job row is read before the counts, and on SQLite each SELECT may see a newer
        # commit: a plan committed in between shows pending rows of a job whose total is
        # still 0. Pending only shrinks once the total is set, so clamping at 0 is exact.
        return max(0, self.total - self.counts.get(ImageStatus.PENDING, 0))

    @property
    def detection(self) -> dict[str, Any] | None:
        """A finished detection's outcome; None for other kinds and before it is done."""
        if self.kind != JobKind.DUPLICATES or self.status != JobStatus.DONE:
            return None
        return self.summary

    @property
    def ocr(self) -> dict[str, Any] | None:
        """An OCR job's counts so far (images, with_text, words, unread); None for other kinds."""
        if self.kind != JobKind.OCR:
            return None
        return dict(self.summary or {})

    @property
    def curation(self) -> dict[str, Any] | None:
        """A curation job's command, step and, once done, its report; None for other kinds."""
        if self.kind != JobKind.CURATION:
            return None
        return dict(self.summary or {})

    @property
    def enrich(self) -> dict[str, Any] | None:
        """An enrich job's counts so far (images, patches, unread, changed); None for other kinds."""
        if self.kind != JobKind.ENRICH:
            return None
        return dict(self.summary or {})

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "kind": self.kind,
            "bucket": self.bucket,
            "status": self.status,
            "total": self.total,
            "done": self.done,
            "indexed": self.indexed,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "failed": self.failed,
            "skipped": self.skipped,
            "cancelled": self.cancelled,
            "error": self.error,
            "detection": self.detection,
            "ocr": self.ocr,
            "enrich": self.enrich,
            "curation": self.curation,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


def job_progress(session: Session, job_id: str) -> JobProgress:
    job = get_job(session, job_id)
    # Files only: a video's segments (rows of their own, issue 27) are counted in `segments`.
    rows = session.execute(
        select(Image.status, func.count())
        .where(Image.job_id == job_id, Image.parent_id.is_(None))
        .group_by(Image.status)
    ).all()
    return JobProgress(
        job_id=job.id,
        bucket=job.bucket,
        status=job.status,
        total=job.total,
        planned=job.planned,
        unchanged=job.unchanged,
        deleted=job.deleted,
        counts={str(status): int(n) for status, n in rows},
        error=job.error,
        created_at=job.created_at,
        finished_at=job.finished_at,
        kind=job.kind,
        summary=job.summary,
    )


def _count(session: Session, job_id: str, *conds: ColumnElement[bool]) -> int:
    return int(
        session.scalar(select(func.count()).select_from(Image).where(Image.job_id == job_id, *conds)) or 0
    )


def job_summary(session: Session, job_id: str) -> dict[str, Any]:
    """The `pixseek ingest --json` document: counts plus every failed and skipped file."""
    progress = job_progress(session, job_id)
    problems = session.execute(
        select(Image.key, Image.status, Image.error)
        .where(Image.job_id == job_id, Image.status.in_([ImageStatus.FAILED, ImageStatus.SKIPPED]))
        .order_by(Image.key)
    ).all()
    summary: dict[str, Any] = {
        "job_id": progress.job_id,
        "bucket": progress.bucket,
        "status": progress.status,
        "total": progress.total,
        "indexed": progress.indexed,
        "unchanged": progress.unchanged,
        "deleted": progress.deleted,
        "failed": [{"key": k, "error": e} for k, s, e in problems if s == ImageStatus.FAILED],
        "skipped": [{"key": k, "reason": e} for k, s, e in problems if s == ImageStatus.SKIPPED],
    }
    videos = _count(session, job_id, Image.media == "video", Image.parent_id.is_(None))
    if videos:  # videos (issue 27): how many, and the segments they were cut into
        summary["videos"] = videos
        summary["segments"] = _count(
            session, job_id, Image.parent_id.is_not(None), Image.status.in_(SEARCHABLE)
        )
        seconds = session.scalar(
            select(func.sum(Image.duration_s)).where(
                Image.job_id == job_id,
                Image.media == "video",
                Image.parent_id.is_(None),
                Image.status.in_(SEARCHABLE),
            )
        )
        summary["video_seconds"] = round(float(seconds or 0.0), 3)  # what the job ingested
    return summary


def list_jobs(session: Session, limit: int = 20) -> list[Job]:
    return list(session.scalars(select(Job).order_by(Job.created_at.desc()).limit(limit)))


def job_problems(session: Session, job_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """The first `limit` failed and skipped files of a job, by key, with their reasons."""
    get_job(session, job_id)
    rows = session.execute(
        select(Image.id, Image.key, Image.status, Image.error)
        .where(Image.job_id == job_id, Image.status.in_([ImageStatus.FAILED, ImageStatus.SKIPPED]))
        .order_by(Image.key)
        .limit(limit)
    ).all()
    return [{"id": int(i), "key": k, "status": s, "reason": e or ""} for i, k, s, e in rows]
