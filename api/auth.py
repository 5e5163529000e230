"""Every `/v1` route but health declares a scope here, through its router's dependencies.

`requires(Scope.X)` on a router (or, to ask more, on one route) runs `authorize`: it resolves
the caller once per request, counts the request against the caller's rate limit, and refuses
a scope the caller lacks. 401 without a valid key, 403 for a weaker scope, 429 past the limit,
all as the usual JSON error.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes

from pixseek.access.authenticator import Authenticator
from pixseek.access.scopes import Principal, Scope, strongest
from pixseek.core.errors import InsufficientScope

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="APIKey",
    description="An API key from `pixseek keys create`, sent as `Authorization: Bearer <key>`.",
)
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def resolve_principal(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """The one place a request becomes a principal: an API key sent as a bearer token.

    The web UI's login joins here: a signed, HttpOnly, SameSite session cookie made from a key
    (with a CSRF token checked on state-changing requests) resolves to that key's principal.
    """
    authenticator: Authenticator = request.app.state.access
    client = request.client.host if request.client else "unknown"
    return authenticator.authenticate(credentials.credentials if credentials else None, client)


def authorize(scopes: SecurityScopes, request: Request, credentials: BearerDep) -> Principal:
    """The caller, if its scope covers every scope the route and its router ask for."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:  # the first of a route's scope checks: authenticate and count once
        principal = resolve_principal(request, credentials)
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
