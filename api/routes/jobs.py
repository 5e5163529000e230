"""Job routes: start an ingest of a bucket, follow its progress."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from pixseek.access.ingest import allowed_bucket
from pixseek.access.scopes import Scope
from pixseek.api.auth import requires
from pixseek.api.contract import errors
from pixseek.api.deps import RunnerDep, SessionDep, SettingsDep
from pixseek.api.schemas.jobs import JobInfo, JobProblem, JobRequest
from pixseek.index.catalog.jobs import cancel_job, job_problems, job_progress, list_jobs

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[requires(Scope.INGEST)])


@router.post("", response_model=JobInfo, status_code=status.HTTP_202_ACCEPTED, responses=errors(404))
def start_job(body: JobRequest, session: SessionDep, settings: SettingsDep, runner: RunnerDep) -> JobInfo:
    """Start ingesting a bucket; returns at once with the job to follow.

    The bucket must be a folder under PIXSEEK_INGEST_ROOTS or an S3 bucket in PIXSEEK_INGEST_BUCKETS.
    """
    job_id = runner.submit(allowed_bucket(body.path, settings))
    return JobInfo(**job_progress(session, job_id).as_dict())


@router.get("", response_model=list[JobInfo])
def jobs(session: SessionDep, limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[JobInfo]:
    """The most recent jobs, newest first."""
    return [JobInfo(**job_progress(session, job.id).as_dict()) for job in list_jobs(session, limit)]


@router.get("/{job_id}", response_model=JobInfo)
def job(job_id: str, session: SessionDep) -> JobInfo:
    """Progress of one job: total, done, indexed, failed, ..."""
    return JobInfo(**job_progress(session, job_id).as_dict())


@router.get("/{job_id}/problems", response_model=list[JobProblem])
def problems(
    job_id: str, session: SessionDep, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> list[JobProblem]:
    """The job's failed and skipped files (first `limit`, by key), each with its reason."""
    return [JobProblem(**row) for row in job_problems(session, job_id, limit)]


@router.post("/{job_id}/cancel", response_model=JobInfo, responses=errors(409))
def cancel(job_id: str, session: SessionDep) -> JobInfo:
    """Cancel a queued or running job (409 once it has finished).

    Images it had not read yet are marked cancelled and left for the next ingest; what it
    embedded stays and is published by the next ingest of the bucket.
    """
    cancel_job(session, job_id)
    session.flush()
    return JobInfo(**job_progress(session, job_id).as_dict())
