"""Reading uploaded files under a size limit."""

from __future__ import annotations

from fastapi import UploadFile

from pixseek.core.errors import PayloadTooLarge, UnsupportedImage

CHUNK = 1024 * 1024


async def read_upload(upload: UploadFile, limit: int) -> bytes:
    """The bytes of an upload; 413 past `limit`, 415 when empty (no image)."""
    parts: list[bytes] = []
    size = 0
    while chunk := await upload.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"upload exceeds the limit of {limit} bytes")
        parts.append(chunk)
    if size == 0:
        raise UnsupportedImage("the uploaded file is empty: it is not an image")
    return b"".join(parts)
