"""Health and status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from pixseek.api.deps import SessionDep, SettingsDep
from pixseek.index.status import catalog_status

router = APIRouter(prefix="/v1", tags=["health"])


@router.get("/health")
def health(session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """Liveness and readiness: the database answers; says whether an index is loaded."""
    session.execute(text("SELECT 1"))
    return {"status": "ok", "random_weights": settings.random_weights}


@router.get("/status")
def status(session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """Counts per status, model, index generation and size."""
    return catalog_status(settings, session)
