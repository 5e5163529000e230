"""docker-compose.yml parses, and every pixseek command in it is a real entry point."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pixseek.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"


def _services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    return services


def _pixseek_commands() -> list[tuple[str, list[str]]]:
    """(service, argv) of every service that runs the pixseek image (entrypoint `pixseek`)."""
    found = []
    for name, service in _services().items():
        if service.get("build") == "." or str(service.get("image", "")).startswith("pixseek"):
            assert "entrypoint" not in service, f"{name}: the image's entrypoint is `pixseek`"
            found.append((name, [str(arg) for arg in service["command"]]))
    return found


def test_compose_file_parses() -> None:
    if shutil.which("docker-compose"):
        command = ["docker-compose", "-f", str(COMPOSE_FILE), "config", "-q"]
    elif shutil.which("docker"):
        command = ["docker", "compose", "-f", str(COMPOSE_FILE), "config", "-q"]
    else:
        pytest.skip("neither docker-compose nor docker is installed (`apt-get install docker-compose`)")
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr


def test_compose_has_the_cluster_services() -> None:
    services = _services()
    assert {"api", "worker", "redis", "postgres", "minio", "migrate"} <= set(services)
    for name in ("api", "worker", "redis", "postgres", "minio"):
        assert "healthcheck" in services[name], name
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["pixseek"]' in dockerfile


@pytest.mark.parametrize(("service", "argv"), _pixseek_commands())
def test_compose_commands_are_pixseek_entry_points(service: str, argv: list[str]) -> None:
    # The arguments parse against the real command (without running it)...
    ctx = main.make_context("pixseek", list(argv), resilient_parsing=False)
    name, command, rest = main.resolve_command(ctx, list(argv))
    assert command is not None, f"{service}: no pixseek command {argv[0]!r}"
    command.make_context(name or argv[0], rest, parent=ctx)
    # ...and the entry point runs.
    result = subprocess.run(
        [sys.executable, "-m", "pixseek", argv[0], "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_worker_healthcheck_names_the_celery_app() -> None:
    check = " ".join(_services()["worker"]["healthcheck"]["test"])
    assert "-A pixseek.ingest.celery_app" in check
    from pixseek.ingest import celery_app

    assert celery_app.celery_app.main == "pixseek"


def test_the_api_gets_its_first_key_from_the_environment_and_ingests_only_the_example_bucket() -> None:
    services = _services()
    api_env = services["api"]["environment"]
    # The api's own variables are merged over the shared ones, not in place of them.
    assert api_env["PIXSEEK_DATABASE_URL"] == services["worker"]["environment"]["PIXSEEK_DATABASE_URL"]
    assert api_env["PIXSEEK_BOOTSTRAP_API_KEY"] == "${PIXSEEK_BOOTSTRAP_API_KEY:-}"
    assert "PIXSEEK_BOOTSTRAP_API_KEY" not in services["worker"]["environment"]  # the secret stays in the api
    assert yaml.safe_load(api_env["PIXSEEK_INGEST_BUCKETS"]) == ["images"]
    assert "--host" in services["api"]["command"]
    # Only the host's loopback reaches the API; a TLS proxy publishes it (docs/security.md).
    assert [str(port) for port in services["api"]["ports"]] == ["127.0.0.1:8000:8000"]


def test_the_beat_service_schedules_a_rescan_of_the_example_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    from pixseek.core.broker import RESCAN_TASK, beat_schedule
    from pixseek.core.settings import Settings

    beat = _services()["beat"]
    assert beat["command"] == ["beat"]
    assert beat["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for name, value in beat["environment"].items():
        monkeypatch.setenv(name, str(value))
    schedule = beat_schedule(Settings())
    assert [entry["task"] for entry in schedule.values()] == [RESCAN_TASK]
    assert [entry["args"] for entry in schedule.values()] == [("s3://images/",)]
