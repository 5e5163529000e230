"""Ingest jobs: their SQL rows and the progress and summary derived from the catalog."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from pixseek.core.db import Base, UTCDateTime, utcnow
from pixseek.core.errors import JobNotFound
from pixseek.index.catalog import Image, ImageStatus


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), default="ingest")
    bucket: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    # Fixed when the job is planned; the per-image outcomes are counted from the catalog.
    total: Mapped[int] = mapped_column(Integer, default=0)
    planned: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def new_job_id() -> str:
    return uuid.uuid4().hex


def get_job(session: Session, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise JobNotFound(f"no job with id {job_id}")
    return job


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
    def done(self) -> int:
        """Files finished: every listed file no longer pending (skipped at planning included)."""
        # The job row is read before the counts, and on SQLite each SELECT may see a newer
        # commit: a plan committed in between shows pending rows of a job whose total is
        # still 0. Pending only shrinks once the total is set, so clamping at 0 is exact.
        return max(0, self.total - self.counts.get(ImageStatus.PENDING, 0))

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "bucket": self.bucket,
            "status": self.status,
            "total": self.total,
            "done": self.done,
            "indexed": self.indexed,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "failed": self.failed,
            "skipped": self.skipped,
            "error": self.error,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


def job_progress(session: Session, job_id: str) -> JobProgress:
    job = get_job(session, job_id)
    rows = session.execute(
        select(Image.status, func.count()).where(Image.job_id == job_id).group_by(Image.status)
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
    )


def job_summary(session: Session, job_id: str) -> dict[str, Any]:
    """The `pixseek ingest --json` document: counts plus every failed and skipped file."""
    progress = job_progress(session, job_id)
    problems = session.execute(
        select(Image.key, Image.status, Image.error)
        .where(Image.job_id == job_id, Image.status.in_([ImageStatus.FAILED, ImageStatus.SKIPPED]))
        .order_by(Image.key)
    ).all()
    return {
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


def list_jobs(session: Session, limit: int = 20) -> list[Job]:
    return list(session.scalars(select(Job).order_by(Job.created_at.desc()).limit(limit)))
