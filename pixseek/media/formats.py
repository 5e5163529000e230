"""The image formats pixseek reads: one list for the decoder, the API's schemas and its responses."""

from __future__ import annotations

from typing import Literal, get_args

# Identified by content, never by file name; PIL refuses anything else at open time.
ImageFormat = Literal["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"]
FORMATS: tuple[ImageFormat, ...] = get_args(ImageFormat)
# Each format's registered media type happens to be `image/<name>`.
MEDIA_TYPES: dict[str, str] = {fmt: f"image/{fmt.lower()}" for fmt in FORMATS}
# File names that may hold an image, for listings that must guess before reading.
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".dib", ".tif", ".tiff"}
)
