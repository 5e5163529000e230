"""Liveness and readiness: open to anyone, since probes call them without a key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pixseek.api.deps import SearchDep, SettingsDep
from pixseek.api.errors import error_response
from pixseek.api.readiness import readiness

router = APIRouter(prefix="/v1", tags=["health"])


@router.get("/health")
def health(settings: SettingsDep) -> dict[str, Any]:
    """Liveness: the process answers. Touches nothing else (use /v1/ready to route traffic)."""
    return {"status": "ok", "random_weights": settings.random_weights}


@router.get(
    "/ready",
    responses={503: {"description": "Not ready: `detail` names each check that failed and why."}},
)
def ready(settings: SettingsDep, search: SearchDep, request: Request) -> JSONResponse:
    """Readiness: the model is loaded (`pixseek serve` loads it at start), the database answers,
    the index is loaded (or nothing is ingested yet), the broker answers when one is
    configured. 503 with the failing checks otherwise."""
    result = readiness(settings, search, request.app.state.warmup)
    if not result.ok:
        return error_response(503, "not_ready", result.not_ready)
    return JSONResponse({"status": "ready", "checks": result.ready})
