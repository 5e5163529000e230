"""Fuzzing the live OpenAPI schema (schemathesis): no input gives a 5xx, every 4xx is our JSON error.

Examples per operation are bounded so the suite stays fast; `PIXSEEK_FUZZ_EXAMPLES` raises
them for a longer run (docs/benchmarks.md has the figures of one).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings

from pixseek.api.app import create_app
from pixseek.core.db import dispose_engines
from pixseek.ingest.run import run_ingest
from tests.conftest import make_settings
from tests.imagegen import write_images

EXAMPLES = int(os.environ.get("PIXSEEK_FUZZ_EXAMPLES", "8"))


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    root = tmp_path_factory.mktemp("fuzz")
    bucket = root / "bucket"
    write_images(bucket, 6)
    # Ingest over HTTP only below this bucket: a fuzzed path must never start a real crawl.
    app_settings = make_settings(root / "data").model_copy(update={"ingest_roots": [bucket.resolve()]})
    run_ingest(app_settings, str(bucket))
    yield create_app(app_settings)
    dispose_engines()


@pytest.fixture(scope="module")
def api_schema(fuzzed_app: FastAPI) -> schemathesis.schemas.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_input_gives_a_server_error(case: schemathesis.Case) -> None:
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:500]}"
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "detail"}, body
        assert isinstance(body["error"], str) and body["error"]


def test_the_fuzzed_bucket_exists(fuzzed_app: FastAPI) -> None:
    # The fixture's ingest really indexed something, so searches are fuzzed past "not ready".
    settings_ = fuzzed_app.state.settings
    assert any(Path(settings_.index_dir).iterdir())
