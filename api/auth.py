"""Every `/v1` route but health declares a scope here, through its router's dependencies.

`requires(Scope.X)` on a router (or, to ask more, on one route) runs `authorize`: it resolves
the caller once per request, counts the request against the caller's rate limit, and refuses
a scope the caller lacks. 401 without a valid key, 403 for a weaker scope, 429 past the limit,
all as the usual JSON error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes

from pixseek.access.authenticator import Authenticator
from pixseek.access.scopes import Principal, Scope, strongest
from pixseek.api.session import COOKIE, CSRF_HEADER, UNSAFE_METHODS, SessionSigner, WebSession
from pixseek.core.errors import CsrfRejected, InsufficientScope, Unauthorized

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="APIKey",
    description="An API key from `pixseek keys create`, sent as `Authorization: Bearer <key>`.",
)
F = TypeVar("F", bound=Callable[..., Any])

BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def resolve_principal(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """The one place a request becomes a principal: an API key sent as a bearer token, or the
    web UI's session cookie made from one (`api/session.py`), whose state-changing requests
    must carry the session's CSRF token.
    """
    authenticator: Authenticator = request.app.state.access
    client = request.client.host if request.client else "unknown"
    if credentials is None and COOKIE in request.cookies and not authenticator.is_open():
        session = web_session(request)
        if session is None:
            raise Unauthorized("the sign-in session expired or is invalid: sign in again")
        signer: SessionSigner = request.app.state.sessions
        if request.method in UNSAFE_METHODS and not signer.check_csrf(
            session, request.headers.get(CSRF_HEADER)
        ):
            raise CsrfRejected(f"a request from a signed-in page must send the {CSRF_HEADER} header")
        return authenticator.authenticate_key_id(session.key_id, session.key_hash)
    return authenticator.authenticate(credentials.credentials if credentials else None, client)


def web_session(request: Request) -> WebSession | None:
    """The valid session the request's cookie holds, if any."""
    cookie = request.cookies.get(COOKIE)
    if cookie is None:
        return None
    signer: SessionSigner = request.app.state.sessions
    return signer.verify(cookie)


def uncounted(endpoint: F) -> F:
    """Mark a route whose calls do not count against the rate limit.

    For cheap reads a page makes by the dozen (a page of 48 thumbnails): the caller is still
    authenticated and its scope checked.
    """
    endpoint.pixseek_uncounted = True  # type: ignore[attr-defined]
    return endpoint


def authorize(scopes: SecurityScopes, request: Request, credentials: BearerDep) -> Principal:
    """The caller, if its scope covers every scope the route and its router ask for."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:  # the first of a route's scope checks: authenticate and count once
        principal = resolve_principal(request, credentials)
        if not getattr(request.scope.get("endpoint"), "pixseek_uncounted", False):
            request.app.state.access.admit(principal)
        request.state.principal = principal
    needed = strongest(scopes.scopes)
    if needed is not None and not principal.allows(needed):
        raise InsufficientScope(
            f"this route needs a key with the {needed} scope; this one has {principal.scope}"
        )
    return principal


def requires(scope: Scope) -> Any:
    """A dependency (for a router's or a route's `dependencies`) that refuses callers below `scope`."""
    return Security(authorize, scopes=[scope.value])


# The caller of a route that already declares its scope, for answers that depend on it.
PrincipalDep = Annotated[Principal, Security(authorize)]
