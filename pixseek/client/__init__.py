"""A Python client for a pixseek server, sync (`Client`) and async (`AsyncClient`).

Light by design: it needs httpx and pydantic, and imports none of the server's torch,
open_clip, faiss, numpy or SQL code, so a notebook can call a server without the model.
Results are the server's own response models (`pixseek.api.schemas`), not a copy.

    from pixseek.client import Client

    with Client("http://127.0.0.1:8000") as px:          # key: api_key= or PIXSEEK_API_KEY
        for hit in px.iter_search("a dog on a beach", filters={"tags": ["beach"]}):
            print(hit.id, hit.key, hit.score)
"""

from __future__ import annotations

from pixseek.client.async_client import AsyncClient
from pixseek.client.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    ValidationFailed,
)
from pixseek.client.sync_client import Client

__all__ = [
    "ApiError",
    "AsyncClient",
    "BadRequest",
    "Client",
    "Conflict",
    "Forbidden",
    "NotFound",
    "RateLimited",
    "ServerError",
    "Unauthorized",
    "ValidationFailed",
]
