"""The image formats pixseek reads: one list for the decoder, the API's schemas and its responses."""

from __future__ import annotations

from typing import Literal, get_args

# Identified by content, never by file name; PIL refuses anything else at open time. The names
# are PIL's: HEIF is read by pillow-heif (HEVC-coded, the HEIC files of phones), AVIF by
# Pillow's own plugin (built with libavif). Camera RAW files are read by LibRaw (rawpy,
# pixseek/media/raw.py); RAW is a TIFF-based RAW of another maker.
ImageFormat = Literal[
    "JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "HEIF", "AVIF",
    "DNG", "CR2", "CR3", "NEF", "ARW", "RAF", "ORF", "RW2", "PEF", "RAW",
]  # fmt: skip
FORMATS: tuple[ImageFormat, ...] = get_args(ImageFormat)
RAW_FORMATS: frozenset[str] = frozenset(FORMATS[FORMATS.index("DNG") :])
# The registered media type is `image/<name>` for all but HEIF, whose HEVC-coded files
# (all that pillow-heif decodes) are `image/heic`, and the RAWs (the names in common use).
MEDIA_TYPES: dict[str, str] = {fmt: f"image/{fmt.lower()}" for fmt in FORMATS}
MEDIA_TYPES["HEIF"] = "image/heic"
MEDIA_TYPES |= {
    "DNG": "image/x-adobe-dng",
    "CR2": "image/x-canon-cr2",
    "CR3": "image/x-canon-cr3",
    "NEF": "image/x-nikon-nef",
    "ARW": "image/x-sony-arw",
    "RAF": "image/x-fuji-raf",
    "ORF": "image/x-olympus-orf",
    "RW2": "image/x-panasonic-rw2",
    "PEF": "image/x-pentax-pef",
    "RAW": "application/octet-stream",
}
RAW_EXTENSIONS = frozenset(
    {".dng", ".cr2", ".cr3", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2", ".pef"}
)
# File names that may hold an image, for listings that must guess before reading.
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".dib", ".tif", ".tiff"}
    | {".heic", ".heif", ".hif", ".avif"}
    | RAW_EXTENSIONS
)

# The formats in words, for help texts and API descriptions ("JPEG, PNG, ... or AVIF").
FORMAT_NAMES = ", ".join(FORMATS[:-1]) + " or " + FORMATS[-1]
UPLOAD_DESCRIPTION = f"An image file: {FORMAT_NAMES}, recognised by content."
