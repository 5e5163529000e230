"""The server's `{"error", "detail"}` answers as exceptions that carry its code."""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    """An error answer: `status` (HTTP), `code` (the server's stable code), `detail`."""

    def __init__(self, status: int, code: str, detail: Any, request_id: str | None = None) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.request_id = request_id


class BadRequest(ApiError):
    """400: the request is inconsistent in a way its schema cannot say."""


class Unauthorized(ApiError):
    """401: no API key, or an unknown or revoked one."""


class Forbidden(ApiError):
    """403: the key's scope does not cover the route."""


class NotFound(ApiError):
    """404: nothing has that id."""


class Conflict(ApiError):
    """409: not now (no index yet, a finished job)."""


class ValidationFailed(ApiError):
    """422: the request does not match its schema; `detail` lists `{loc, msg}`."""


class RateLimited(ApiError):
    """429, after the client's retries: too many requests."""


class ServerError(ApiError):
    """5xx, after the client's retries for 503."""


BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: ValidationFailed,
    429: RateLimited,
}


def raise_for(response: httpx.Response) -> None:
    """Raise the `ApiError` subclass for an error answer; nothing for a success."""
    if response.status_code < 400:
        return
    try:
        body = response.json()
        code, detail = str(body["error"]), body["detail"]
    except (ValueError, KeyError, TypeError):
        code, detail = "http_error", response.text[:500]
    kind = BY_STATUS.get(response.status_code, ServerError if response.status_code >= 500 else ApiError)
    raise kind(response.status_code, code, detail, response.headers.get("x-request-id"))
