"""Supply chain: no installed dependency has a known vulnerability (pip-audit), and the Docker
image runs as a user without privileges."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# pip-audit asks PyPI's JSON API for each installed release's advisories.
ADVISORIES = "https://pypi.org/pypi/{name}/{version}/json"


def _advisories_unreachable() -> str | None:
    """Why pip-audit could not audit anything here, or None when PyPI's advisories answer."""
    url = ADVISORIES.format(name="pip", version=importlib.metadata.version("pip"))
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            if "vulnerabilities" in json.loads(response.read()):
                return None
            return f"{url} answers without advisories"
    except (OSError, ValueError) as exc:  # URLError, HTTPError (404 through a registry proxy), bad JSON
        return f"PyPI's advisory API is not reachable from here ({url}: {exc})"


@pytest.mark.slow
def test_no_installed_dependency_has_a_known_vulnerability() -> None:
    reason = _advisories_unreachable()
    if reason is not None:
        # A machine that reaches only a package mirror cannot audit; one that must (a CI
        # runner with the network) sets PIXSEEK_REQUIRE_AUDIT=true and fails here instead.
        if os.environ.get("PIXSEEK_REQUIRE_AUDIT", "").lower() == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip_audit",
            "--progress-spinner",
            "off",
            "--format",
            "json",
            "--skip-editable",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = json.loads(done.stdout)
    audited = [dep for dep in report["dependencies"] if "skip_reason" not in dep]
    assert audited, "pip-audit audited nothing"
    vulnerable = {
        f"{dep['name']} {dep['version']}": [v["id"] for v in dep["vulns"]] for dep in audited if dep["vulns"]
    }
    assert vulnerable == {}, f"known vulnerabilities (upgrade, or pin a fixed release): {vulnerable}"


def test_the_docker_image_runs_as_an_unprivileged_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1] == "pixseek", "the image's last USER must be the unprivileged pixseek"
    assert re.search(r"useradd\b[^\n]*--uid 1000 pixseek", dockerfile)
    # What it writes (the data dir and the model cache) belongs to that user.
    assert "chown pixseek /data /models" in dockerfile
    # `pixseek backup` of a PostgreSQL catalog runs pg_dump in the image.
    assert "postgresql-client" in dockerfile
