"""Request dependencies: settings, a per-request session, the long-lived services."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from pixseek.api.jobs_runner import JobRunner
from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.search.duplicates.service import DuplicateService
from pixseek.search.regions import RegionSearchService
from pixseek.search.service import SearchService


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """A session that commits when the request succeeds and rolls back when it fails."""
    with session_scope(request.app.state.settings) as session:
        yield session


def get_search(request: Request) -> SearchService:
    service: SearchService = request.app.state.search
    return service


def get_regions(request: Request) -> RegionSearchService:
    service: RegionSearchService = request.app.state.regions
    return service


def get_duplicates(request: Request) -> DuplicateService:
    service: DuplicateService = request.app.state.duplicates
    return service


def get_runner(request: Request) -> JobRunner:
    runner: JobRunner = request.app.state.jobs
    return runner


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]
SearchDep = Annotated[SearchService, Depends(get_search)]
RunnerDep = Annotated[JobRunner, Depends(get_runner)]
RegionsDep = Annotated[RegionSearchService, Depends(get_regions)]
DuplicatesDep = Annotated[DuplicateService, Depends(get_duplicates)]
