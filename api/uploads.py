"""Reading uploaded files under a size limit."""

from __future__ import annotations

from fastapi import UploadFile

from pixseek.core.errors import InvalidRequest, PayloadTooLarge

CHUNK = 1024 * 1024


async def read_upload(upload: UploadFile, limit: int) -> bytes:
    """The bytes of an upload; 413 past `limit`, 400 when empty."""
    parts: list[bytes] = []
    size = 0
    while chunk := await upload.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"upload exceeds the limit of {limit} bytes")
        parts.append(chunk)
    if size == 0:
        raise InvalidRequest("the uploaded file is empty")
    return b"".join(parts)
