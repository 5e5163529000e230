"""Curation commands and the map as jobs: recorded in `jobs` (kind `curation`), with progress,
and cancelled through the common job cancel (`POST /v1/jobs/{id}/cancel`).

A running command calls its `Progress` every few steps; it writes `done`/`total` and the
step at most once a second and, when the job row says `cancelled`, raises `Cancelled`, so
the command stops between two steps and writes nothing (selections are saved last).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pixseek.core.db import session_scope, utcnow
from pixseek.core.errors import InvalidRequest
from pixseek.core.settings import Settings
from pixseek.index.catalog.jobs import JobKind, JobStatus, add_job, failures_recorded, get_job
from pixseek.search.curation import service
from pixseek.search.curation.map import build_map

log = logging.getLogger(__name__)

COMMANDS = ("diverse", "typical", "unusual", "clusters", "splits", "map")


class Cancelled(Exception):
    """The job was cancelled while it ran."""


class Progress:
    """Record how far a job got, and stop it when it was cancelled."""

    def __init__(self, settings: Settings, job_id: str, every_s: float = 1.0) -> None:
        self.settings, self.job_id, self.every_s = settings, job_id, every_s
        self.last = 0.0

    def __call__(self, done: int, total: int, step: str = "") -> None:
        now = time.monotonic()
        if now - self.last < self.every_s and done < total:
            return
        self.last = now
        with session_scope(self.settings) as session:
            job = get_job(session, self.job_id)
            if job.status == JobStatus.CANCELLED:
                raise Cancelled(self.job_id)
            job.total = total
            job.summary = {**(job.summary or {}), "done": done, "step": step}


def create_curation_job(settings: Settings, command: str, params: dict[str, Any]) -> str:
    if command not in COMMANDS:
        raise InvalidRequest(f"command must be one of {', '.join(COMMANDS)}")
    with session_scope(settings) as session:
        job_id = add_job(session, JobKind.CURATION)
        get_job(session, job_id).summary = {"command": command, "params": params, "done": 0, "step": "queued"}
    return job_id


def run_command(
    settings: Settings, command: str, params: dict[str, Any], progress: Progress | None
) -> dict[str, Any]:
    """Run one command with its keyword arguments; its report."""
    if command == "diverse":
        return service.diverse(settings, progress=progress, **params)
    if command in ("typical", "unusual"):
        return service.density(settings, unusual=command == "unusual", progress=progress, **params)
    if command == "clusters":
        return service.clusters(settings, progress=progress, **params)
    if command == "splits":
        return service.splits(settings, progress=progress, **params)
    if command == "map":
        return build_map(settings, progress=progress, **params)
    raise InvalidRequest(f"command must be one of {', '.join(COMMANDS)}")


def run_curation_job(settings: Settings, job_id: str) -> None:
    """Run a queued curation job to its end (done, failed or cancelled)."""
    with session_scope(settings) as session:
        job = get_job(session, job_id, for_update=True)
        if job.status != JobStatus.QUEUED:
            return  # done, failed or cancelled already: safe to call twice
        job.status, job.started_at = JobStatus.RUNNING, utcnow()
        command = str((job.summary or {})["command"])
        params = dict((job.summary or {}).get("params") or {})
    try:
        with failures_recorded(settings, job_id):
            report = run_command(settings, command, params, Progress(settings, job_id))
    except Cancelled:
        log.info("curation.cancelled job=%s command=%s", job_id, command)
        return
    with session_scope(settings) as session:
        job = get_job(session, job_id, for_update=True)
        if job.status == JobStatus.CANCELLED:
            return
        job.status, job.finished_at = JobStatus.DONE, utcnow()
        job.summary = {**(job.summary or {}), "done": job.total, "step": "done", "report": report}
    log.info("curation.done job=%s command=%s", job_id, command)
