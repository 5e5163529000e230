"""Duplicate routes: list and read groups, resolve or dismiss one, check an upload, start detection,
carry the decisions out (apply, undo) and export them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response

from pixseek.access.scopes import Scope
from pixseek.api.auth import requires
from pixseek.api.contract import errors
from pixseek.api.deps import DuplicatesDep, RunnerDep, SessionDep, SettingsDep
from pixseek.api.schemas.duplicates import (
    ApplyRequest,
    ApplyResponse,
    ApplyRuns,
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
from pixseek.search.duplicates import apply as applying
from pixseek.search.duplicates.check import CheckResult
from pixseek.search.duplicates.export import export as export_groups
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


@router.post("/apply", response_model=ApplyResponse, dependencies=[requires(Scope.INGEST)])
def apply_decisions(body: ApplyRequest, settings: SettingsDep) -> dict[str, Any]:
    """Move the images of groups resolved with action `remove` to the quarantine
    (`PIXSEEK_DUPLICATES__QUARANTINE`, else `.pixseek-quarantine/` in each bucket).

    A dry run by default. Files are moved, never deleted; a run a crash cut short is
    finished by the next call; `POST /v1/duplicates/apply/{run}/undo` moves them back.
    """
    return applying.apply(settings, dry_run=body.dry_run).as_dict()


@router.get("/apply", response_model=ApplyRuns)
def apply_runs(settings: SettingsDep) -> dict[str, Any]:
    """Every apply run, oldest first."""
    return {"runs": applying.list_runs(settings)}


@router.post("/apply/{run}/undo", response_model=ApplyResponse, dependencies=[requires(Scope.INGEST)])
def undo_run(run: str, settings: SettingsDep) -> dict[str, Any]:
    """Move a run's files back to their buckets and their images back into the index."""
    return applying.undo(settings, run).as_dict()


@router.get(
    "/export",
    response_class=PlainTextResponse,
    responses={
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            }
        }
    },
)
def export(
    session: SessionDep,
    format: Literal["csv", "json"] = "csv",
    status: StatusParam | None = None,
) -> Response:
    """Groups and decisions: keeper, members, tier, reason, decision; CSV (a row per member) or JSON."""
    text = export_groups(session, format, status)
    media = "text/csv" if format == "csv" else "application/json"
    headers = {"Content-Disposition": f'attachment; filename="duplicates.{format}"'}
    return Response(text, media_type=media, headers=headers)
