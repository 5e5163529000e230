"""API keys over HTTP: every /v1 route has a scope, 401 and 403 as JSON errors, open only without keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pixseek.access.keys import create_key, revoke_key
from pixseek.access.scopes import Scope, strongest
from pixseek.api.app import create_app
from pixseek.api.auth import authorize
from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image, ImageStatus
from pixseek.ingest.run import run_ingest
from tests.support.api import assert_error
from tests.support.images import write_bad_files

try:  # FastAPI from 0.16x keeps included routers whole in app.routes; this flattens them
    from fastapi.routing import iter_route_contexts
except ImportError:  # earlier versions list every route in app.routes

    def iter_route_contexts(routes: Any) -> Any:  # type: ignore[misc]
        return iter(routes)


# Who may call what: docs/security.md's "Who may call what" table. A route added without a scope, or with
# another one, fails test_every_v1_route_declares_the_documented_scope.
SCOPES: dict[tuple[str, str], Scope] = {
    ("GET", "/v1/status"): Scope.SEARCH,  # details (data dir, database, buckets) for admin only
    ("POST", "/v1/search"): Scope.SEARCH,
    ("POST", "/v1/search/multipart"): Scope.SEARCH,
    ("POST", "/v1/search/text"): Scope.SEARCH,
    ("POST", "/v1/search/image"): Scope.SEARCH,
    ("GET", "/v1/images/{image_id}/similar"): Scope.SEARCH,
    ("POST", "/v1/search/regions"): Scope.SEARCH,
    ("POST", "/v1/search/regions/image"): Scope.SEARCH,
    ("GET", "/v1/images/{image_id}/heatmap"): Scope.SEARCH,
    ("GET", "/v1/images/{image_id}"): Scope.SEARCH,  # a rejected file's sha256 for ingest keys only
    ("GET", "/v1/images/{image_id}/file"): Scope.SEARCH,
    ("GET", "/v1/images/{image_id}/thumbnail"): Scope.SEARCH,
    ("GET", "/v1/images/{image_id}/text"): Scope.SEARCH,
    ("GET", "/v1/tags"): Scope.SEARCH,
    ("GET", "/v1/duplicates/groups"): Scope.SEARCH,
    ("GET", "/v1/duplicates/groups/{group_id}"): Scope.SEARCH,
    ("POST", "/v1/duplicates/check"): Scope.SEARCH,
    ("POST", "/v1/duplicates/groups/{group_id}/resolve"): Scope.INGEST,
    ("POST", "/v1/duplicates/groups/{group_id}/dismiss"): Scope.INGEST,
    ("POST", "/v1/duplicates/detect"): Scope.INGEST,
    ("POST", "/v1/duplicates/apply"): Scope.INGEST,
    ("GET", "/v1/duplicates/apply"): Scope.SEARCH,
    ("POST", "/v1/duplicates/apply/{run}/undo"): Scope.INGEST,
    ("GET", "/v1/duplicates/export"): Scope.SEARCH,
    ("POST", "/v1/curation/diverse"): Scope.INGEST,
    ("POST", "/v1/curation/typical"): Scope.INGEST,
    ("POST", "/v1/curation/unusual"): Scope.INGEST,
    ("POST", "/v1/curation/clusters"): Scope.INGEST,
    ("POST", "/v1/curation/splits"): Scope.INGEST,
    ("GET", "/v1/curation/scores"): Scope.SEARCH,
    ("POST", "/v1/curation/map"): Scope.INGEST,
    ("POST", "/v1/curation/jobs"): Scope.INGEST,
    ("GET", "/v1/curation/map"): Scope.SEARCH,
    ("GET", "/v1/selections"): Scope.SEARCH,
    ("POST", "/v1/selections"): Scope.INGEST,
    ("GET", "/v1/selections/{name:path}"): Scope.SEARCH,
    ("DELETE", "/v1/selections/{name:path}"): Scope.INGEST,
    ("POST", "/v1/jobs"): Scope.INGEST,
    ("GET", "/v1/jobs"): Scope.INGEST,
    ("GET", "/v1/jobs/{job_id}"): Scope.INGEST,
    ("GET", "/v1/jobs/{job_id}/problems"): Scope.INGEST,
    ("POST", "/v1/jobs/{job_id}/cancel"): Scope.INGEST,
    ("POST", "/v1/saved-searches"): Scope.SEARCH,
    ("GET", "/v1/saved-searches"): Scope.SEARCH,
    ("GET", "/v1/saved-searches/{search_id}"): Scope.SEARCH,
    ("POST", "/v1/saved-searches/{search_id}/refresh"): Scope.SEARCH,
    ("DELETE", "/v1/saved-searches/{search_id}"): Scope.SEARCH,
    ("POST", "/v1/webhooks/test"): Scope.ADMIN,
    ("GET", "/v1/webhooks/deliveries"): Scope.ADMIN,
}
PUBLIC = {("GET", "/v1/health"), ("GET", "/v1/ready")}


def _declared_scopes(app: FastAPI) -> dict[tuple[str, str], Scope | None]:
    """(method, path) -> the strongest scope `authorize` checks on it, for every /v1 route."""

    def scopes_of(dependant: object) -> list[str]:
        found: list[str] = []
        for dep in getattr(dependant, "dependencies", []):
            if dep.call is authorize:
                found += dep.own_oauth_scopes or []
            found += scopes_of(dep)
        return found

    declared: dict[tuple[str, str], Scope | None] = {}
    for route in iter_route_contexts(app.routes):
        path = route.path or ""
        if not path.startswith("/v1"):
            continue
        # A plain Starlette route has no dependencies, so no scope: it would be open.
        assert hasattr(route, "dependant"), f"{path} is not an API route: nothing checks its caller"
        for method in route.methods or ():
            declared[(method, path)] = strongest(scopes_of(route.dependant))
    return declared


def _url(path: str) -> str:
    return (
        path.replace("{image_id}", "1")
        .replace("{group_id}", "1")
        .replace("{search_id}", "1")
        .replace("{job_id}", "0" * 32)
    )


@pytest.fixture
def keys(settings: Settings) -> dict[Scope, str]:
    """One key per scope; from now on the API needs a key."""
    with session_scope(settings) as session:
        return {scope: create_key(session, f"test-{scope}", scope)[1] for scope in Scope}


@pytest.fixture
def closed(settings: Settings, keys: dict[Scope, str]) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_every_v1_route_declares_the_documented_scope(settings: Settings) -> None:
    declared = _declared_scopes(create_app(settings))
    assert {route: scope for route, scope in declared.items() if scope is None} == dict.fromkeys(PUBLIC)
    assert {route: scope for route, scope in declared.items() if scope is not None} == SCOPES


def test_the_scope_walk_sees_a_route_added_without_one(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/v1/oops")
    def oops() -> dict[str, str]:
        return {}

    assert _declared_scopes(app)[("GET", "/v1/oops")] is None


def test_the_openapi_document_names_the_bearer_scheme(closed: TestClient) -> None:
    document = closed.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["APIKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key from `pixseek keys create`, sent as `Authorization: Bearer <key>`.",
    }
    assert "security" in document["paths"]["/v1/search/text"]["post"]
    assert "security" not in document["paths"]["/v1/health"]["get"]


def test_without_a_key_every_scoped_route_is_401(closed: TestClient) -> None:
    for (method, path), _ in SCOPES.items():
        response = closed.request(method, _url(path))
        body = assert_error(response, 401, "unauthorized")
        assert "pixseek keys create" in str(body["detail"]), path
        assert response.headers["www-authenticate"] == "Bearer"
    assert closed.get("/v1/health").status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "Bearer pxs_not-a-real-key-but-long-enough-to-look-like-one",
        "Bearer short",
        "Bearer " + "x" * 5000,
        "Basic dXNlcjpwYXNz",
        "Bearer",
    ],
)
def test_an_unknown_or_malformed_key_is_401(closed: TestClient, header: str) -> None:
    assert_error(closed.post("/v1/search/text", json={"text": "x"}, headers={"Authorization": header}), 401)


def test_a_weaker_scope_is_403_and_a_sufficient_one_passes(
    closed: TestClient, keys: dict[Scope, str]
) -> None:
    for (method, path), needed in SCOPES.items():
        for scope, key in keys.items():
            response = closed.request(method, _url(path), headers=_bearer(key))
            if scope.includes(needed):
                assert response.status_code not in (401, 403), (method, path, scope, response.text)
            else:
                body = assert_error(response, 403, "insufficient_scope")
                assert f"needs a key with the {needed} scope" in str(body["detail"])


def test_a_revoked_key_is_refused_at_once(
    settings: Settings, closed: TestClient, keys: dict[Scope, str]
) -> None:
    key = keys[Scope.SEARCH]
    assert closed.get("/v1/status", headers=_bearer(key)).status_code == 200
    with session_scope(settings) as session:
        revoke_key(session, key[:12])
    assert_error(closed.get("/v1/status", headers=_bearer(key)), 401, "unauthorized")
    assert closed.get("/v1/status", headers=_bearer(keys[Scope.ADMIN])).status_code == 200


def test_with_no_key_the_api_is_open_and_admin(client: TestClient) -> None:
    status = client.get("/v1/status")
    assert status.status_code == 200
    assert {"data_dir", "database", "buckets"} <= set(status.json())
    assert client.post("/v1/duplicates/detect", json={}).status_code == 202
    # Presenting a key when none exists is a mistake worth telling: it is unknown.
    assert_error(client.get("/v1/status", headers=_bearer("pxs_" + "a" * 43)), 401)


def test_revoking_every_key_does_not_open_the_api(settings: Settings, keys: dict[Scope, str]) -> None:
    with session_scope(settings) as session:
        for key in keys.values():
            revoke_key(session, key[:12])
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert_error(client.get("/v1/status"), 401, "unauthorized")


def test_a_key_created_while_serving_closes_the_open_api(settings: Settings, client: TestClient) -> None:
    assert client.get("/v1/status").status_code == 200
    with session_scope(settings) as session:
        _, key = create_key(session, "late", Scope.SEARCH)
    assert_error(client.get("/v1/status"), 401)
    assert client.get("/v1/status", headers=_bearer(key)).status_code == 200


def test_status_details_are_for_admin_keys_only(closed: TestClient, keys: dict[Scope, str]) -> None:
    details = {"data_dir", "database", "buckets"}
    for scope in (Scope.SEARCH, Scope.INGEST):
        body = closed.get("/v1/status", headers=_bearer(keys[scope])).json()
        assert not details & set(body), scope
        assert {"images", "index", "model", "mode"} <= set(body)
    admin = closed.get("/v1/status", headers=_bearer(keys[Scope.ADMIN])).json()
    assert details <= set(admin)


def test_rejected_files_show_no_sha256_to_search_keys(
    settings: Settings, bucket: Path, keys: dict[Scope, str], closed: TestClient
) -> None:
    write_bad_files(bucket)
    run_ingest(settings, str(bucket))
    with session_scope(settings) as session:
        rows = {row.key: (row.id, row.status, row.sha256) for row in session.query(Image)}
    rejected = [
        image_id
        for image_id, status, sha in rows.values()
        if status in (ImageStatus.FAILED, ImageStatus.SKIPPED) and sha
    ]
    assert rejected, rows  # files read and hashed, then refused: the case that leaked
    for image_id in rejected:
        as_search = closed.get(f"/v1/images/{image_id}", headers=_bearer(keys[Scope.SEARCH])).json()
        as_ingest = closed.get(f"/v1/images/{image_id}", headers=_bearer(keys[Scope.INGEST])).json()
        assert as_search["sha256"] is None
        assert as_ingest["sha256"] == rows[as_ingest["key"]][2]
    indexed_id, _, indexed_sha = rows["img000.png"]
    shown = closed.get(f"/v1/images/{indexed_id}", headers=_bearer(keys[Scope.SEARCH])).json()
    assert shown["sha256"] == indexed_sha  # an indexed image's hash is ordinary metadata


def test_metrics_need_an_admin_key_once_keys_exist(closed: TestClient, keys: dict[Scope, str]) -> None:
    assert_error(closed.get("/metrics"), 401, "unauthorized")
    assert_error(closed.get("/metrics", headers=_bearer(keys[Scope.SEARCH])), 403)
    response = closed.get("/metrics", headers=_bearer(keys[Scope.ADMIN]))
    assert response.status_code == 200 and "pixseek_http_request_duration_seconds" in response.text
    assert closed.get("/v1/ready").status_code in (200, 503)  # probes need no key
