"""Dispatch when the broker cannot be reached: a clear error, and a job recorded failed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from pixseek.core.db import session_scope
from pixseek.core.errors import BrokerUnavailable
from pixseek.core.settings import Settings
from pixseek.index.catalog.jobs import Job, JobStatus
from pixseek.ingest.dispatch import start_job, submit_job

UNREACHABLE = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.mark.parametrize("dispatcher", [start_job, submit_job], ids=["cli", "api"])
def test_unreachable_broker_fails_the_job_with_a_clear_error(
    dispatcher: object, settings: Settings, bucket: Path
) -> None:
    unreachable = settings.model_copy(update={"broker_url": UNREACHABLE})
    with pytest.raises(BrokerUnavailable, match="cannot send tasks to the broker"):
        dispatcher(unreachable, str(bucket))  # type: ignore[operator]
    with session_scope(settings) as session:
        jobs = list(session.scalars(select(Job)))
    assert [job.status for job in jobs] == [JobStatus.FAILED]
    assert "Connection refused" in (jobs[0].error or "") or "connecting" in (jobs[0].error or "")
