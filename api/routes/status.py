"""Status: counts for any key; the operator's details (data dir, database, buckets) for admin keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from pixseek.access.scopes import Scope
from pixseek.api.auth import PrincipalDep, requires
from pixseek.api.deps import SessionDep, SettingsDep
from pixseek.core.active_model import follow_switch
from pixseek.index.status import catalog_status

router = APIRouter(prefix="/v1", tags=["health"], dependencies=[requires(Scope.SEARCH)])


@router.get("/status")
def status(session: SessionDep, settings: SettingsDep, principal: PrincipalDep) -> dict[str, Any]:
    """Counts per status, model, index generation and size; admin keys also see where data lives."""
    # The served generation's model and index, after any `pixseek reindex` switch.
    return catalog_status(follow_switch(settings), session, details=principal.allows(Scope.ADMIN))
