"""Curation routes: the curation commands, saved selections, uniqueness scores."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from sqlalchemy import select

from pixseek.access.scopes import Scope
from pixseek.api.auth import requires
from pixseek.api.contract import errors
from pixseek.api.deps import RunnerDep, SessionDep, SettingsDep
from pixseek.api.schemas.curation import (
    ClustersRequest,
    CurationJobRequest,
    CurationReport,
    DensityRequest,
    DiverseRequest,
    MapRequest,
    MapSummary,
    ScorePage,
    SelectionCreate,
    SelectionDetail,
    SelectionInfo,
    SelectionList,
    SplitsRequest,
)
from pixseek.api.schemas.jobs import JobInfo
from pixseek.core.db import in_chunks
from pixseek.core.errors import ImageNotFound
from pixseek.index.catalog.images import SEARCHABLE, Image
from pixseek.index.catalog.jobs import job_progress
from pixseek.index.catalog.selections import delete_selection, save_selection
from pixseek.search.curation import service
from pixseek.search.curation.errors import SelectionNotFound
from pixseek.search.curation.map import build_map, current_map

router = APIRouter(tags=["curation"], dependencies=[requires(Scope.SEARCH)])
WRITE = [requires(Scope.INGEST)]
NameParam = Annotated[str, Path(max_length=200)]


@router.post("/v1/curation/diverse", response_model=CurationReport, dependencies=WRITE)
def diverse(body: DiverseRequest, settings: SettingsDep) -> dict[str, Any]:
    """A diverse subset of `n` pictures (k-center greedy on CLS, copies counted once), with its
    coverage and a random subset's."""
    return service.diverse(settings, body.n, body.name, refine=body.refine)


@router.post("/v1/curation/typical", response_model=CurationReport, dependencies=WRITE)
def typical(body: DensityRequest, settings: SettingsDep) -> dict[str, Any]:
    """The `n` most typical pictures; every image's uniqueness and typicality are stored."""
    return service.density(settings, body.n, unusual=False, name=body.name, k=body.k)


@router.post("/v1/curation/unusual", response_model=CurationReport, dependencies=WRITE)
def unusual(body: DensityRequest, settings: SettingsDep) -> dict[str, Any]:
    """The `n` most unusual pictures; every image's uniqueness and typicality are stored."""
    return service.density(settings, body.n, unusual=True, name=body.name, k=body.k)


@router.post("/v1/curation/clusters", response_model=CurationReport, dependencies=WRITE)
def clusters(body: ClustersRequest, settings: SettingsDep) -> dict[str, Any]:
    """`k` clusters, each a selection `<name>/<nn>-<label>` labelled from the tags."""
    return service.clusters(settings, body.k, body.name, seed=body.seed)


@router.post("/v1/curation/splits", response_model=CurationReport, dependencies=WRITE)
def splits(body: SplitsRequest, settings: SettingsDep) -> dict[str, Any]:
    """Splits by ratio that no duplicate or retake straddles; reports a random split's leaks."""
    return service.splits(
        settings,
        body.ratios,
        body.name,
        seed=body.seed,
        retake_cosine=body.retake_cosine,
        split_names=body.names,
    )


# The service's argument names where a body's differ.
RENAMED = {"splits": {"names": "split_names"}}


@router.post("/v1/curation/jobs", response_model=JobInfo, status_code=202, dependencies=WRITE)
def start_job(body: CurationJobRequest, session: SessionDep, runner: RunnerDep) -> JobInfo:
    """Run a command (or compute the map) as a job: answers 202 at once; follow it with
    `GET /v1/jobs/{job_id}` (`done` of `total`, `curation.step`, then `curation.report`) and
    stop it with `POST /v1/jobs/{job_id}/cancel`."""
    checked = body.params  # validated by the command's own request body (CurationJobRequest)
    renames = RENAMED.get(body.command, {})
    params = {renames.get(k, k): v for k, v in checked.model_dump().items()}
    job_id = runner.submit_curation(body.command, params)
    return JobInfo(**job_progress(session, job_id).as_dict())


@router.get("/v1/curation/scores", response_model=ScorePage)
def scores(
    session: SessionDep,
    order: Literal["uniqueness", "typicality"] = "uniqueness",
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Images by uniqueness or typicality, highest first (run typical or unusual first)."""
    return service.scores(session, order, limit=limit, offset=offset)


@router.post("/v1/curation/map", response_model=MapSummary, dependencies=WRITE)
def compute_map(body: MapRequest, settings: SettingsDep) -> dict[str, Any]:
    """Compute the map of the current index generation now (t-SNE takes minutes at 50k images:
    run `pixseek curate map` for large collections) and cache it."""
    return build_map(settings, body.method)


@router.get("/v1/curation/map")
def get_map(settings: SettingsDep) -> Response:
    """The cached map: per image (same order in every list) its id, x and y in [0, 1], cluster,
    duplicate group (-1: none) and top tag (an index into `tags`, -1: none); `stale` when the
    index changed since. 404 `map_not_ready` before the first."""
    return Response(json.dumps(current_map(settings), separators=(",", ":")), media_type="application/json")


@router.get("/v1/selections", response_model=SelectionList)
def list_selections(session: SessionDep) -> dict[str, Any]:
    """Every saved selection: name, method, size, how it was made."""
    return {"selections": service.list_selections(session)}


@router.post(
    "/v1/selections",
    response_model=SelectionInfo,
    status_code=201,
    dependencies=WRITE,
    responses=errors(404),
)
def create_selection(body: SelectionCreate, session: SessionDep) -> dict[str, Any]:
    """Save (or replace) a selection of given ids, e.g. a lasso on the map."""
    ids = list(dict.fromkeys(body.ids))
    known: set[int] = set()
    for part in in_chunks(ids):  # a lasso may hold 100k ids: more than one IN list takes
        known.update(
            session.scalars(
                select(Image.id).where(Image.id.in_(list(part)), Image.status.in_(list(SEARCHABLE)))
            )
        )
    if len(known) != len(ids):
        raise ImageNotFound(f"{len(ids) - len(known)} of the ids are not searchable images")
    service.check_name(body.name)
    save_selection(session, body.name, body.method, body.params, ids)
    session.flush()
    return {k: v for k, v in service.get_selection(session, body.name, limit=1).items() if k != "images"}


@router.get(
    "/v1/selections/{name:path}",
    response_model=SelectionDetail,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def get_selection(
    name: NameParam,
    session: SessionDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    format: Literal["json", "csv"] = "json",
) -> Any:
    """One selection and a page of its image ids, in the order the command chose them;
    `format=csv` writes all of it (position, image_id, bucket, key, score)."""
    if format == "csv":
        headers = {"Content-Disposition": 'attachment; filename="selection.csv"'}
        return Response(service.export_selection(session, name), media_type="text/csv", headers=headers)
    return service.get_selection(session, name, offset=offset, limit=limit)


@router.delete("/v1/selections/{name:path}", status_code=204, dependencies=WRITE)
def remove_selection(name: NameParam, session: SessionDep) -> None:
    """Delete a selection (its images stay)."""
    if not delete_selection(session, name):
        raise SelectionNotFound(f"no selection named {name!r}")
