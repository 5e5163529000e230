"""The web UI: server-rendered pages (Jinja2) whose small scripts call the `/v1` API.

Pages need no key while the API is open (no key exists: loopback only); from the first key
on, a page without a valid session cookie sends the browser to `/login`, which turns a key
into a signed, HttpOnly, SameSite=Strict cookie (`api/session.py`). The pages' API calls
authenticate with that cookie and send its CSRF token. Every page carries a strict Content
Security Policy: scripts and styles only from `/static`, nothing inline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from pixseek.access.authenticator import Authenticator
from pixseek.access.scopes import Principal, Scope
from pixseek.api.auth import web_session
from pixseek.api.deps import SessionDep, SettingsDep
from pixseek.api.session import COOKIE, SessionSigner
from pixseek.core.errors import ImageNotFound, PixseekError, RateLimited, Unauthorized
from pixseek.index.catalog.duplicates import DuplicateGroup, DuplicateMember
from pixseek.index.catalog.exif import get_exif, twins_of
from pixseek.index.catalog.images import SEARCHABLE, VIDEO, Image, get_image, video_segments

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
STATIC_DIR = WEB_DIR / "static"
templates = Jinja2Templates(directory=WEB_DIR / "templates")  # autoescapes .html

router = APIRouter(include_in_schema=False)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _page_principal(request: Request) -> Principal | None:
    """Who the page is for: anyone while the API is open, else the session's key (or None)."""
    access: Authenticator = request.app.state.access
    client = request.client.host if request.client else "unknown"
    if access.is_open():
        principal = access.authenticate(None, client)
    else:
        session = web_session(request)
        if session is None:
            return None
        try:
            principal = access.authenticate_key_id(session.key_id, session.key_hash)
        except Unauthorized:
            return None
    access.admit(principal)
    return principal


def _render(
    request: Request, name: str, principal: Principal | None, status: int = 200, **context: Any
) -> Response:
    signer: SessionSigner = request.app.state.sessions
    session = web_session(request)
    response = templates.TemplateResponse(
        request,
        name,
        {
            "principal": principal,
            "signed_in": principal is not None and not principal.anonymous,
            "can_ingest": principal is not None and principal.allows(Scope.INGEST),
            "csrf": signer.csrf_token(session) if session is not None else "",
            **context,
        },
        status_code=status,
        headers=PAGE_HEADERS,
    )
    return response


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303, headers=PAGE_HEADERS)


@router.get("/", response_class=HTMLResponse)
def search_page(request: Request) -> Response:
    principal = _page_principal(request)
    if principal is None:
        return _to_login(request)
    return _render(request, "search.html", principal, page="search")


@router.get("/images/{image_id}", response_class=HTMLResponse)
def image_page(image_id: int, request: Request, session: SessionDep) -> Response:
    principal = _page_principal(request)
    if principal is None:
        return _to_login(request)
    try:
        image = get_image(session, image_id)
        if image.status not in SEARCHABLE:
            raise ImageNotFound(f"image {image_id} is {image.status}")
    except ImageNotFound as exc:
        return _render(request, "error.html", principal, status=404, page="image", message=exc.detail)
    group = session.execute(
        select(DuplicateGroup.id, DuplicateGroup.status)
        .join(DuplicateMember, DuplicateMember.group_id == DuplicateGroup.id)
        .where(DuplicateMember.image_id == image_id)
        .order_by((DuplicateGroup.status == "open").desc(), DuplicateGroup.id.desc())
        .limit(1)
    ).first()
    return _render(
        request,
        "image.html",
        principal,
        page="image",
        image=image,
        photo=get_exif(session, image_id),
        twins=twins_of(session, image_id),
        group_id=group[0] if group else None,
        query_text=request.query_params.get("q", ""),
        **_video_context(session, image, request.query_params.get("t")),
    )


def _video_context(session: Session, image: Image, t: str | None) -> dict[str, Any]:
    """For a video or one of its segments: the video, its segments and where to start playing."""
    if image.media != VIDEO:
        return {"video": None, "segments": [], "start": 0.0}
    video = get_image(session, image.parent_id) if image.parent_id is not None else image
    try:
        start = float(t) if t is not None else (image.start_s or 0.0)
    except ValueError:
        start = image.start_s or 0.0
    start = min(max(0.0, start), video.duration_s or 0.0) if start == start else 0.0  # NaN: the start
    return {"video": video, "segments": video_segments(session, video.id), "start": start}


@router.get("/duplicates", response_class=HTMLResponse)
def duplicates_page(request: Request) -> Response:
    principal = _page_principal(request)
    if principal is None:
        return _to_login(request)
    return _render(request, "duplicates.html", principal, page="duplicates")


@router.get("/map", response_class=HTMLResponse)
def map_page(request: Request) -> Response:
    principal = _page_principal(request)
    if principal is None:
        return _to_login(request)
    return _render(request, "map.html", principal, page="map")


@router.get("/ingest", response_class=HTMLResponse)
def ingest_page(request: Request, settings: SettingsDep) -> Response:
    principal = _page_principal(request)
    if principal is None:
        return _to_login(request)
    # Where the API may ingest from names server paths: for admin keys (and the open API) only.
    roots = [str(p) for p in settings.ingest_roots] + [f"s3://{b}" for b in settings.ingest_buckets]
    shown = roots if principal.allows(Scope.ADMIN) else []
    return _render(request, "ingest.html", principal, page="ingest", roots=shown)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never `//host` or a scheme (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    access: Authenticator = request.app.state.access
    if access.is_open():  # nothing to sign in to
        return RedirectResponse(_safe_next(next), status_code=303)
    return _render(request, "login.html", None, page="login", next=_safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request, key: Annotated[str, Form(max_length=512)] = "", next: Annotated[str, Form()] = "/"
) -> Response:
    access: Authenticator = request.app.state.access
    target = _safe_next(next)
    if access.is_open():
        return RedirectResponse(target, status_code=303)
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        return _render(
            request,
            "login.html",
            None,
            status=403,
            page="login",
            next=target,
            error="Sign in from this site's own page.",
        )
    client = request.client.host if request.client else "unknown"
    try:
        access.limiter.check(f"login:{client}")  # slows guessing down to the rate limit
        principal = access.authenticate(key.strip() or None, client)
    except (Unauthorized, RateLimited) as exc:
        status = 429 if isinstance(exc, RateLimited) else 401
        message = "Too many attempts: wait a moment." if status == 429 else "That key is unknown or revoked."
        return _render(request, "login.html", None, status=status, page="login", next=target, error=message)
    key_hash = access.key_hash_of(principal.key_id) if principal.key_id is not None else None
    if key_hash is None or principal.key_id is None:
        return _render(
            request,
            "login.html",
            None,
            status=401,
            page="login",
            next=target,
            error="That key is unknown or revoked.",
        )
    signer: SessionSigner = request.app.state.sessions
    response = RedirectResponse(target, status_code=303, headers=PAGE_HEADERS)
    response.set_cookie(
        COOKIE,
        signer.issue(principal.key_id, key_hash),
        max_age=signer.max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    session = web_session(request)
    signer: SessionSigner = request.app.state.sessions
    if session is not None and not signer.check_csrf(session, csrf):
        raise PixseekError("sign out from the page's own button")
    response = RedirectResponse("/login", status_code=303, headers=PAGE_HEADERS)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
