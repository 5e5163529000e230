"""Readiness: can this API instance serve now? The database, the index, the broker.

Liveness (`/v1/health`) only says the process answers; readiness (`/v1/ready`) is what a
load balancer or an orchestrator should route on. Each check reports a short state and
never a URL, host or driver message: those can carry credentials, so only the kind of
failure is named here and the log line carries the rest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import text

from pixseek.api.warmup import ModelWarmup
from pixseek.core.db import session_scope
from pixseek.core.errors import IndexNotReady, ModelMismatch
from pixseek.core.settings import Settings
from pixseek.search.service import SearchService

log = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 2.0


@dataclass
class Readiness:
    ready: dict[str, str] = field(default_factory=dict)  # check -> state
    not_ready: dict[str, str] = field(default_factory=dict)  # check -> what is wrong

    @property
    def ok(self) -> bool:
        return not self.not_ready


def _failed(check: str, exc: Exception) -> str:
    log.warning("ready.%s_failed error=%s: %s", check, type(exc).__name__, exc)
    return f"unreachable ({type(exc).__name__})"


def check_database(settings: Settings) -> str:
    with session_scope(settings) as session:
        session.execute(text("SELECT 1"))
    return "ok"


def check_index(search: SearchService) -> str:
    """Loads the published index if this process has not yet (the first probe warms it)."""
    try:
        loaded = search.loaded_index()
    except IndexNotReady:
        return "empty: nothing ingested yet (searches answer index_not_ready until the first ingest)"
    return f"generation {loaded.manifest.generation} loaded, {loaded.manifest.count} vectors"


def check_broker(settings: Settings) -> str:
    from kombu import Connection

    with Connection(settings.broker_url, connect_timeout=BROKER_TIMEOUT_SECONDS) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_SECONDS)
    return "ok"


def readiness(settings: Settings, search: SearchService, warmup: ModelWarmup) -> Readiness:
    result = Readiness()
    loaded, state = warmup.state()
    (result.ready if loaded else result.not_ready)["model"] = state
    try:
        result.ready["database"] = check_database(settings)
    except Exception as exc:
        result.not_ready["database"] = _failed("database", exc)
    try:
        result.ready["index"] = check_index(search)
    except ModelMismatch:
        result.not_ready["index"] = "built by another model than the configured one (see pixseek status)"
    except Exception as exc:
        log.warning("ready.index_failed error=%s: %s", type(exc).__name__, exc)
        result.not_ready["index"] = f"cannot be loaded ({type(exc).__name__})"
    if settings.embedded:
        result.ready["broker"] = "none configured (embedded mode: jobs run in this process)"
    else:
        try:
            result.ready["broker"] = check_broker(settings)
        except Exception as exc:
            result.not_ready["broker"] = _failed("broker", exc)
    return result
