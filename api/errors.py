"""One renderer for every error: `{"error": code, "detail": message}` with a 4xx status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pixseek.core.errors import PixseekError

log = logging.getLogger(__name__)


def error_response(
    status: int, code: str, detail: object, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": code, "detail": detail}, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PixseekError)
    async def _pixseek(_: Request, exc: PixseekError) -> JSONResponse:
        return error_response(exc.status_code, exc.code, exc.detail, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(err.get("loc", ())), "msg": err.get("msg", "")} for err in exc.errors()]
        return error_response(422, "invalid_request", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        return error_response(exc.status_code, code, exc.detail)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Never a traceback, a path or an exception's text to the client: the log keeps them,
        # under the request id the client is given.
        request_id = getattr(request.state, "request_id", "-")
        log.exception("api.unexpected_error request_id=%s path=%s", request_id, request.url.path)
        detail = f"an unexpected error occurred (request id {request_id}); see the server log"
        return error_response(500, "internal_error", detail, headers={"x-request-id": request_id})
