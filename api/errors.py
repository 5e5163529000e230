"""One renderer for every error: `{"error": code, "detail": message}` with a 4xx status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pixseek.core.errors import PixseekError
from pixseek.core.faults import as_fault
from pixseek.core.redact import hide_passwords

log = logging.getLogger(__name__)

# What a client is told of a 5xx: the kind of fault, never its detail.
SERVER_FAULTS = {
    "config_error": "the server is misconfigured; an operator must check its settings and log",
    "broker_unavailable": "the task broker is unavailable; try again later",
    "database_unavailable": "the database is unavailable (restarting?); try again shortly",
    "disk_full": "the server's disk is full; an operator must free space",
    "keyword_search_unavailable": "keyword search is not available on this server (its SQLite lacks FTS5)",
}


def error_response(
    status: int, code: str, detail: object, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": code, "detail": detail}, headers=headers)


def allowed_methods(request: Request) -> str:
    """The methods some route answers at the request's path (for a 405's `Allow`)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        regex, route_methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and route_methods and regex.match(request.url.path):
            methods |= set(route_methods)
    return ", ".join(sorted(methods))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PixseekError)
    async def _pixseek(request: Request, exc: PixseekError) -> JSONResponse:
        if exc.status_code < 500:
            return error_response(exc.status_code, exc.code, exc.detail, headers=exc.headers)
        # A server-side fault (configuration, broker): its detail names paths, hosts and
        # exception text, which stay in the log; the client gets the kind and a request id.
        request_id = getattr(request.state, "request_id", "-")
        log.error("api.%s request_id=%s detail=%s", exc.code, request_id, hide_passwords(exc.detail))
        detail = f"{SERVER_FAULTS.get(exc.code, 'a server error occurred')} (request id {request_id})"
        headers = {**(exc.headers or {}), "x-request-id": request_id}
        return error_response(exc.status_code, exc.code, detail, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(err.get("loc", ())), "msg": err.get("msg", "")} for err in exc.errors()]
        return error_response(422, "invalid_request", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        if exc.status_code == 405:  # Allow names every method of the path, not one route's
            return error_response(405, code, exc.detail, headers={"Allow": allowed_methods(request)})
        # A 405 keeps its `Allow` header (RFC 9110), as every error keeps the headers it brings.
        return error_response(exc.status_code, code, exc.detail, headers=getattr(exc, "headers", None))

    async def _fault(request: Request, exc: Exception) -> JSONResponse:
        # The database restarting, a full disk: 503 (with Retry-After) or 507, never a 500.
        fault = as_fault(exc)
        if fault is not None:
            return await _pixseek(request, fault)
        return await _unexpected(request, exc)

    # Handled inside the app (not by the outermost middleware), so every middleware sees an
    # ordinary response: request ids, metrics.
    app.add_exception_handler(DBAPIError, _fault)
    app.add_exception_handler(OSError, _fault)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        fault = as_fault(exc)
        if fault is not None:
            return await _pixseek(request, fault)
        # Never a traceback, a path or an exception's text to the client: the log keeps them,
        # under the request id the client is given.
        request_id = getattr(request.state, "request_id", "-")
        log.exception("api.unexpected_error request_id=%s path=%s", request_id, request.url.path)
        detail = f"an unexpected error occurred (request id {request_id}); see the server log"
        return error_response(500, "internal_error", detail, headers={"x-request-id": request_id})
