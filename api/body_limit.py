"""Request bodies counted as they stream in, so no client can make the server hold more.

A `Content-Length` over the limit is refused before the body is read. Chunked bodies (and
bodies whose length header lies) are counted message by message as the app reads them:
past the limit the read fails with 413, so nothing beyond the limit is ever buffered or
spooled to disk. Multipart uploads get the upload limit plus framing; every other body
(JSON) gets `PIXSEEK_MAX_JSON_BYTES`.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pixseek.api.errors import error_response
from pixseek.core.settings import Settings

# Multipart framing around an upload (boundaries, part headers, small form fields).
MULTIPART_OVERHEAD = 64 * 1024


class BodyLimit:
    """ASGI middleware: 413 for bodies over the limit, however they are sent."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.upload_limit = settings.max_upload_bytes + MULTIPART_OVERHEAD
        self.json_limit = settings.max_json_bytes

    def limit_for(self, scope: Scope) -> int:
        headers = dict(scope.get("headers") or ())
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        return self.upload_limit if content_type.startswith("multipart/") else self.json_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        length = dict(scope.get("headers") or ()).get(b"content-length")
        if length is not None:
            if not length.isdigit():
                await error_response(400, "invalid_request", "invalid Content-Length header")(
                    scope, receive, send
                )
                return
            if int(length) > limit:
                await _too_large(limit)(scope, receive, send)
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the app's body read: FastAPI lets HTTPExceptions through,
                    # and the one error handler renders it as JSON.
                    raise HTTPException(413, f"request body exceeds {limit} bytes")
            return message

        await self.app(scope, counted, send)


def _too_large(limit: int) -> JSONResponse:
    return error_response(413, "payload_too_large", f"request body exceeds {limit} bytes")
