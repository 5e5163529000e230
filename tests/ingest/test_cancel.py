"""Cancelling a job: over HTTP (ingest scope) and from the CLI; what it left is ingested next time."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from fastapi.testclient import TestClient

from pixseek.cli import main
from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.index.catalog.jobs import job_progress, job_summary
from pixseek.ingest.finalizing import finalize_job
from pixseek.ingest.planning import create_job, plan_job
from pixseek.ingest.run import run_ingest
from pixseek.media.sources import open_source
from tests.support.images import write_images


def _planned(settings: Settings, folder: Path) -> str:
    """A job planned and not yet run: every image pending."""
    job_id = create_job(settings, str(folder.resolve()))
    plan_job(settings, job_id, open_source(str(folder), settings))
    return job_id


def test_cancel_over_http_leaves_the_images_for_the_next_ingest(
    settings: Settings, client: TestClient, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    write_images(folder, 4)
    job_id = _planned(settings, folder)

    response = client.post(f"/v1/jobs/{job_id}/cancel")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["cancelled"], body["indexed"]) == ("cancelled", 4, 0)
    again = client.post(f"/v1/jobs/{job_id}/cancel")
    assert again.status_code == 409 and again.json()["error"] == "job_not_cancellable"
    assert client.post("/v1/jobs/no-such-job/cancel").status_code == 404

    assert finalize_job(settings, job_id) is None  # a late finalize leaves it cancelled
    with session_scope(settings) as session:
        assert job_progress(session, job_id).status == "cancelled"
    next_job = run_ingest(settings, str(folder))
    with session_scope(settings) as session:
        summary = job_summary(session, next_job)
    assert (summary["status"], summary["indexed"], summary["unchanged"]) == ("done", 4, 0)


def test_cancel_from_the_cli(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    write_images(folder, 2)
    job_id = _planned(settings, folder)
    result = CliRunner().invoke(main, ["jobs", "cancel", job_id, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "cancelled"
    listed = CliRunner().invoke(main, ["jobs"]).stdout
    assert f"{job_id}  cancelled" in listed
    refused = CliRunner().invoke(main, ["jobs", "cancel", job_id])
    assert refused.exit_code == 2 and "already cancelled" in refused.stderr
