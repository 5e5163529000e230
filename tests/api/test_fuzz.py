"""Fuzzing the live OpenAPI schema (schemathesis): no input gives a 5xx, every 4xx is our JSON error.

Run with keys: none presented, and one of each scope (every schemathesis check runs against
a live server in test_contract.py). Examples
per operation are bounded so the suite stays fast; `PIXSEEK_FUZZ_EXAMPLES` raises them for
a longer run (docs/benchmarks.md has the figures of one).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings

from pixseek.access.keys import create_key
from pixseek.access.scopes import Scope
from pixseek.api.app import create_app
from pixseek.core.db import dispose_engines, session_scope
from pixseek.core.settings import Settings
from pixseek.ingest.run import run_ingest
from tests.support.images import write_images
from tests.support.settings import make_settings

EXAMPLES = int(os.environ.get("PIXSEEK_FUZZ_EXAMPLES", "4"))
PUBLIC = {"/v1/health", "/v1/ready", "/openapi.json", "/docs", "/redoc"}
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
)


def _indexed_settings(root: Path) -> Settings:
    bucket = root / "bucket"
    write_images(bucket, 6)
    # Ingest over HTTP only below this bucket: a fuzzed path must never start a real crawl.
    # No rate limit in the way of the fuzzer's request rate.
    app_settings = make_settings(root / "data").model_copy(
        update={"ingest_roots": [bucket.resolve()], "rate_limit_per_second": 1e6, "rate_limit_burst": 10**6}
    )
    run_ingest(app_settings, str(bucket))
    return app_settings


def _assert_answer(case: schemathesis.Case, response: schemathesis.Response) -> None:
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:500]}"
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "detail"}, body
        assert isinstance(body["error"], str) and body["error"]


@pytest.fixture(scope="module")
def keyed_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, dict[str, str]]]:
    app_settings = _indexed_settings(tmp_path_factory.mktemp("fuzz-keys"))
    app = create_app(app_settings)
    with session_scope(app_settings) as session:
        keys = {scope.value: create_key(session, f"fuzz-{scope.value}", scope)[1] for scope in Scope}
    yield app, keys
    dispose_engines()


@pytest.fixture(scope="module")
def keyed_schema(keyed_app: tuple[FastAPI, dict[str, str]]) -> schemathesis.schemas.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", keyed_app[0])


# Schemathesis explores every route with no key and a key of each scope.
pytestmark = pytest.mark.slow

keyed_api = schemathesis.pytest.from_fixture("keyed_schema")


@keyed_api.parametrize()
@FUZZ_SETTINGS
def test_no_input_gives_a_server_error_with_keys(
    case: schemathesis.Case, keyed_app: tuple[FastAPI, dict[str, str]]
) -> None:
    # Each example is sent with no key and with a key of each scope (schemathesis's lazy
    # schemas cannot be combined with parametrized fixtures).
    for scope in (None, *Scope):
        headers = {"Authorization": f"Bearer {keyed_app[1][scope]}"} if scope else {}
        response = case.call(headers=headers)
        _assert_answer(case, response)
        if scope is None and case.path not in PUBLIC:
            # Without a key nothing succeeds. Mostly that is a 401; a body FastAPI cannot even
            # parse is refused (400/422) before the key is looked at, and a stray method is 405.
            assert response.status_code >= 400, f"{case.method} {case.formatted_path} answered without a key"


def test_the_fuzzed_catalog_is_indexed(keyed_app: tuple[FastAPI, dict[str, str]]) -> None:
    # The fixture's ingest really indexed something, so searches are fuzzed past "not ready".
    assert any(Path(keyed_app[0].state.settings.index_dir).iterdir())
