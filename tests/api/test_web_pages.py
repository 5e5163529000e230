"""The web UI's pages over HTTP: security headers, escaping, sign-in, the session cookie and CSRF."""

from __future__ import annotations

import stat
from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr

from pixseek.access.keys import create_key, revoke_key
from pixseek.api.app import create_app
from pixseek.api.session import COOKIE, SessionSigner, session_secret
from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.ingest.run import run_ingest
from tests.support.api import assert_error
from tests.support.images import encode, pattern
from tests.support.ingested import catalog


def _key(settings: Settings, scope: str = "ingest") -> tuple[str, str]:
    with session_scope(settings) as session:
        row, key = create_key(session, "web", scope)
        return row.prefix, key


def test_pages_render_with_a_strict_csp_while_the_api_is_open(client: TestClient) -> None:
    for path in ("/", "/duplicates", "/ingest"):
        response = client.get(path)
        assert response.status_code == 200, path
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "<script>" not in response.text  # nothing inline: scripts come from /static
    assert client.get("/static/app.js").status_code == 200
    login = client.get("/login?next=/duplicates", follow_redirects=False)
    assert (login.status_code, login.headers["location"]) == (303, "/duplicates")  # nothing to sign in to


def test_file_names_are_escaped_on_the_image_page(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    root = tmp_path / "hostile"
    root.mkdir()
    name = '"><img src=x onerror=alert(1)>.png'
    (root / name).write_bytes(encode(pattern(3)))
    run_ingest(settings, str(root))
    image_id = catalog(settings)[name].id
    page = client.get(f"/images/{image_id}", params={"q": "</script><script>alert(2)</script>"})
    assert page.status_code == 200
    assert "<img src=x onerror" not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert "<script>alert(2)" not in page.text
    assert client.get("/images/999999").status_code == 404


def test_pages_and_api_need_a_session_once_keys_exist(client: TestClient, settings: Settings) -> None:
    prefix, key = _key(settings)
    page = client.get("/duplicates?tier=near", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fduplicates%3Ftier%3Dnear"
    assert client.get("/login").status_code == 200

    wrong = client.post("/login", data={"key": "y" * 40, "next": "/"}, follow_redirects=False)
    assert wrong.status_code == 401
    assert COOKIE not in wrong.cookies

    signed = client.post("/login", data={"key": key, "next": "/duplicates"}, follow_redirects=False)
    assert (signed.status_code, signed.headers["location"]) == (303, "/duplicates")
    cookie_header = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie_header and "samesite=strict" in cookie_header
    assert key not in signed.headers["set-cookie"]  # the key never goes into the cookie

    page = client.get("/duplicates")
    assert page.status_code == 200
    csrf = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    assert len(csrf) > 20

    # The cookie authenticates the API; a state change also needs the page's CSRF token.
    assert client.get("/v1/jobs").status_code == 200
    assert_error(client.post("/v1/duplicates/detect", json={}), 403, "csrf_rejected")
    assert_error(client.post("/v1/duplicates/detect", json={}, headers={"X-CSRF-Token": "forged"}), 403)
    assert client.post("/v1/duplicates/detect", json={}, headers={"X-CSRF-Token": csrf}).status_code == 202

    # A forged cookie is refused; revoking the key ends its sessions.
    good = client.cookies[COOKIE]
    client.cookies.clear()
    assert client.get("/v1/jobs", headers={"Cookie": f"{COOKIE}={good}"}).status_code == 200
    assert_error(client.get("/v1/jobs", headers={"Cookie": f"{COOKIE}={good[:-4]}AAAA"}), 401)
    with session_scope(settings) as session:
        revoke_key(session, prefix)
    assert_error(client.get("/v1/jobs", headers={"Cookie": f"{COOKIE}={good}"}), 401)
    assert client.get("/", headers={"Cookie": f"{COOKIE}={good}"}, follow_redirects=False).status_code == 303


def test_sign_in_never_redirects_off_site_and_refuses_other_origins(
    client: TestClient, settings: Settings
) -> None:
    _, key = _key(settings, "search")
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = client.post("/login", data={"key": key, "next": target}, follow_redirects=False)
        assert response.headers["location"] == "/", target
    client.cookies.clear()
    other = client.post("/login", data={"key": key}, headers={"Origin": "https://evil.example"})
    assert other.status_code == 403
    assert COOKIE not in client.cookies


def test_sign_out_needs_the_page_token(client: TestClient, settings: Settings) -> None:
    _, key = _key(settings, "search")
    client.post("/login", data={"key": key})
    assert client.post("/logout", data={"csrf": "nope"}, follow_redirects=False).status_code == 400
    page = client.get("/")
    csrf = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    out = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert (
        'pixseek_session=""' in out.headers["set-cookie"] or "max-age=0" in out.headers["set-cookie"].lower()
    )


def test_session_secret_is_made_once_and_private(settings: Settings) -> None:
    first = session_secret(settings)
    path = settings.data_dir / "session.secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert session_secret(settings) == first
    signer = SessionSigner(first, hours=1)
    cookie = signer.issue(7, "hash", now=1000.0)
    assert signer.verify(cookie, now=1000.0 + 3599) is not None
    assert signer.verify(cookie, now=1000.0 + 3601) is None  # expired
    assert SessionSigner(b"z" * 32, hours=1).verify(cookie, now=1000.0) is None  # another secret


def test_job_problems_list_failed_and_skipped_files(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    root = tmp_path / "mixed"
    root.mkdir()
    (root / "good.png").write_bytes(encode(pattern(1)))
    (root / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    (root / "notes.txt").write_text("hello")
    job_id = run_ingest(settings, str(root))
    problems = client.get(f"/v1/jobs/{job_id}/problems").json()
    assert [(p["key"], p["status"]) for p in problems] == [("broken.jpg", "failed"), ("notes.txt", "skipped")]
    assert all(p["reason"] for p in problems)
    assert_error(client.get("/v1/jobs/nope/problems"), 404, "job_not_found")


def test_a_configured_session_secret_is_used_and_no_file_made(settings: Settings) -> None:
    configured = settings.model_copy(update={"session_secret": SecretStr("s" * 40)})
    assert session_secret(configured) == b"s" * 40
    with TestClient(create_app(configured)) as client:
        assert client.get("/").status_code == 200
    assert not (settings.data_dir / "session.secret").exists()
