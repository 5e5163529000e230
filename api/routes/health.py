"""Health: liveness, open to anyone (container health checks call it without a key)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from pixseek.api.deps import SessionDep, SettingsDep

router = APIRouter(prefix="/v1", tags=["health"])


@router.get("/health")
def health(session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """Liveness and readiness: the database answers; says whether an index is loaded."""
    session.execute(text("SELECT 1"))
    return {"status": "ok", "random_weights": settings.random_weights}
