"""Duplicate routes: list and read groups, resolve or dismiss one, check an upload, start detection."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.concurrency import run_in_threadpool

from pixseek.access.scopes import Scope
from pixseek.api.auth import requires
from pixseek.api.contract import errors
from pixseek.api.deps import DuplicatesDep, RunnerDep, SessionDep, SettingsDep
from pixseek.api.schemas.duplicates import (
    CheckResponse,
    DetectRequest,
    Group,
    GroupPage,
    KindParam,
    ResolveRequest,
    StatusParam,
)
from pixseek.api.schemas.jobs import JobInfo
from pixseek.api.uploads import read_upload
from pixseek.core.limits import MAX_JSON_INT
from pixseek.index.catalog.jobs import job_progress
from pixseek.media.formats import UPLOAD_DESCRIPTION
from pixseek.search.duplicates.check import CheckResult
from pixseek.search.duplicates.views import GroupView

router = APIRouter(prefix="/v1/duplicates", tags=["duplicates"], dependencies=[requires(Scope.SEARCH)])


@router.get("/groups", response_model=GroupPage)
def list_groups(
    duplicates: DuplicatesDep,
    session: SessionDep,
    kind: KindParam | None = None,
    status: StatusParam = "open",
    offset: Annotated[int, Query(ge=0, le=MAX_JSON_INT)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    """Groups of one status (default open), optionally of one tier, a page at a time."""
    total, groups = duplicates.list_groups(session, kind=kind, status=status, offset=offset, limit=limit)
    return {"groups": groups, "total": total, "offset": offset, "limit": limit}


@router.get("/groups/{group_id}", response_model=Group)
def get_group(group_id: int, duplicates: DuplicatesDep, session: SessionDep) -> GroupView:
    """One group with its images, keeper first."""
    return duplicates.get_group(session, group_id)


@router.post(
    "/groups/{group_id}/resolve",
    response_model=Group,
    dependencies=[requires(Scope.INGEST)],
    responses=errors(409),
)
def resolve_group(
    group_id: int, body: ResolveRequest, duplicates: DuplicatesDep, session: SessionDep
) -> GroupView:
    """Keep some images and mark the others to remove or hide; no file is ever deleted."""
    return duplicates.resolve(session, group_id, keep=body.keep, action=body.action)


@router.post(
    "/groups/{group_id}/dismiss",
    response_model=Group,
    dependencies=[requires(Scope.INGEST)],
    responses=errors(409),
)
def dismiss_group(group_id: int, duplicates: DuplicatesDep, session: SessionDep) -> GroupView:
    """Not duplicates: none of the group's pairs will be grouped again."""
    return duplicates.dismiss(session, group_id)


@router.post("/detect", response_model=JobInfo, status_code=202, dependencies=[requires(Scope.INGEST)])
def detect(body: DetectRequest, session: SessionDep, runner: RunnerDep) -> JobInfo:
    """Start comparing new images (or all, with `full`) and rebuilding the open groups.

    Returns at once with the job; follow it with `GET /v1/jobs/{job_id}`, whose `detection`
    holds the summary once it is done.
    """
    job_id = runner.submit_detection(full=body.full)
    return JobInfo(**job_progress(session, job_id).as_dict())


@router.post("/check", response_model=CheckResponse, responses=errors(409, 415))
async def check(
    file: Annotated[UploadFile, File(description=UPLOAD_DESCRIPTION)],
    duplicates: DuplicatesDep,
    session: SessionDep,
    settings: SettingsDep,
) -> CheckResult:
    """Whether the collection already holds an exact, near or similar copy of the upload."""
    data = await read_upload(file, settings.max_upload_bytes)
    return await run_in_threadpool(duplicates.check, session, data)
