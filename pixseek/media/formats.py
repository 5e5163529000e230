"""The image formats pixseek reads: one list for the decoder, the API's schemas and its responses."""

from __future__ import annotations

from typing import Literal, get_args

# Identified by content, never by file name; PIL refuses anything else at open time. The names
# are PIL's: HEIF is read by pillow-heif (HEVC-coded, the HEIC files of phones), AVIF by
# Pillow's own plugin (built with libavif).
ImageFormat = Literal["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "HEIF", "AVIF"]
FORMATS: tuple[ImageFormat, ...] = get_args(ImageFormat)
# The registered media type is `image/<name>` for all but HEIF, whose HEVC-coded files
# (all that pillow-heif decodes) are `image/heic`.
MEDIA_TYPES: dict[str, str] = {fmt: f"image/{fmt.lower()}" for fmt in FORMATS}
MEDIA_TYPES["HEIF"] = "image/heic"
# File names that may hold an image, for listings that must guess before reading.
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".dib", ".tif", ".tiff"}
    | {".heic", ".heif", ".hif", ".avif"}
)

# The formats in words, for help texts and API descriptions ("JPEG, PNG, ... or AVIF").
FORMAT_NAMES = ", ".join(FORMATS[:-1]) + " or " + FORMATS[-1]
UPLOAD_DESCRIPTION = f"An image file: {FORMAT_NAMES}, recognised by content."
