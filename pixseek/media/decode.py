"""Turn untrusted bytes into a safe RGB picture, or a clear reason why not."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError, features

from pixseek.core.errors import UnsupportedImage
from pixseek.media.exif import PhotoFacts, capture_time, read_facts
from pixseek.media.formats import IMAGE_EXTENSIONS
from pixseek.media.isobmff import brand_format, declared_sizes
from pixseek.media.raw import RawRejected, decode_raw, sniff_raw, tiff_raw_format

# HEIC through pillow-heif (which also applies the file's rotation and mirroring, reporting
# the displayed size and resetting the EXIF orientation to 1); AVIF through Pillow's own
# plugin when this Pillow was built with libavif (it keeps the EXIF orientation, applied below).
pillow_heif.register_heif_opener()
AVIF_SUPPORTED = features.check("avif")
# How many leading bytes `sniff` needs: the `ftyp` box of HEIF and AVIF lists its brands there.
SNIFF_BYTES = 64

# EXIF orientations 5-8 rotate by 90 degrees, so the displayed size is transposed.
_TRANSPOSING = {5, 6, 7, 8}
# The model's transform scales the shortest side to its input size S, allocating S*S*ratio
# pixels: a tiny 1x1,000,000 strip would need gigabytes. Nothing that thin is a photo.
MAX_ASPECT_RATIO = 200
# RAW formats the first bytes name (the TIFF-based ones are told by their first directory).
RAW_SNIFFED = frozenset({"RAF", "ORF", "RW2", "CR3"})


class DecodeError(UnsupportedImage):
    """The bytes are not a usable image; `skip` is True when they are not an image at all.

    An upload that fails to decode is answered 415 `unsupported_image` by the API's one
    handler; ingest catches it per file and records the detail as the file's reason.
    """

    def __init__(self, reason: str, *, skip: bool = False) -> None:
        super().__init__(reason)
        self.skip = skip


@dataclass
class Decoded:
    """A decoded picture and the facts recorded about it."""

    image: Image.Image  # RGB, EXIF orientation applied, possibly reduced by JPEG draft
    format: str
    width: int  # as displayed, full resolution
    height: int
    captured_at: datetime | None
    # Camera, lens, exposure and GPS from the EXIF (empty without one), and what could not be read.
    facts: PhotoFacts = field(default_factory=PhotoFacts)


def sniff(head: bytes) -> str | None:
    """The image format named by the first bytes of a file (`SNIFF_BYTES` of them), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if raw := sniff_raw(head):
        return raw
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:2] == b"BM":
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    return brand_format(head)


def looks_like_image_name(key: str) -> bool:
    dot = key.rfind(".")
    return dot != -1 and key[dot:].lower() in IMAGE_EXTENSIONS


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB, compositing transparency onto white."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # PIL's own conversion clips 16/32-bit grey at 255; scale the real range instead.
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        if mode.startswith("I;16"):
            lo, hi = 0.0, 65535.0
        scaled = np.zeros_like(arr) if hi <= lo else (arr - lo) * (255.0 / (hi - lo))
        return Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), "L").convert("RGB")
    if (mode == "P" and "transparency" in img.info) or mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode == "RGB":
        return img
    return img.convert("RGB")


def decode_image(
    data: bytes,
    *,
    max_pixels: int,
    draft_size: int | None = None,
) -> Decoded:
    """Decode untrusted bytes to RGB with EXIF orientation applied.

    Args:
        data: the whole file.
        max_pixels: refuse images with more pixels than this before decoding them.
        draft_size: for JPEG, let the decoder shrink by a power of two while both sides
            stay at least this large (much faster; the model sees a resized image anyway).

    Raises:
        DecodeError: with a reason users can act on (`skip=True` when not an image at all).
    """
    if not data:
        raise DecodeError("empty file")
    fmt = sniff(data[:SNIFF_BYTES])
    if fmt is None:
        raise DecodeError("not an image (unrecognised content)", skip=True)
    raw_kind = (fmt, True) if fmt in RAW_SNIFFED else tiff_raw_format(data) if fmt == "TIFF" else None
    if raw_kind is not None:
        decoded = _decode_raw(data, *raw_kind, max_pixels=max_pixels, draft_size=draft_size)
        if decoded is not None:
            return decoded
    if fmt == "AVIF" and not AVIF_SUPPORTED:
        raise DecodeError("AVIF image, but this Pillow was built without AVIF support (libavif)")
    if fmt in ("HEIF", "AVIF"):
        # Their decoders may refuse a huge size with an opaque error (libavif) or read the
        # headers at length first; the declared sizes decide here, before either runs.
        for w, h in declared_sizes(data):
            if w * h > max_pixels:
                raise DecodeError(
                    f"decompression bomb refused: {fmt} header declares {w}x{h} = {w * h} "
                    f"pixels, over the limit of {max_pixels}"
                )
    with warnings.catch_warnings():
        # PIL warns before it errors on large images; our own limit decides instead.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=(fmt,))
        except Image.DecompressionBombError as exc:
            raise DecodeError(f"decompression bomb refused: {exc}") from exc
        except UnidentifiedImageError as exc:
            raise DecodeError(f"cannot identify {fmt} image: the file is corrupt") from exc
        except (OSError, ValueError, SyntaxError, RuntimeError) as exc:
            raise DecodeError(f"corrupt {fmt} header: {exc}") from exc
    width, height = img.size
    if width <= 0 or height <= 0:
        raise DecodeError(f"invalid image size {width}x{height}")
    if width * height > max_pixels:
        raise DecodeError(
            f"decompression bomb refused: {width}x{height} = {width * height} pixels "
            f"exceeds the limit of {max_pixels}"
        )
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise DecodeError(
            f"image of {width}x{height} pixels is too thin: aspect ratios over "
            f"{MAX_ASPECT_RATIO}:1 are refused"
        )
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:
        orientation = 1
    captured_at = capture_time(img.getexif()) if _has_exif(img) else None
    facts = read_facts(img)
    try:
        if getattr(img, "is_animated", False):
            img.seek(0)
        if draft_size and img.format == "JPEG":
            img.draft("RGB", (draft_size, draft_size))
        img.load()
        rgb = _to_rgb(ImageOps.exif_transpose(img))
    except Image.DecompressionBombError as exc:
        raise DecodeError(f"decompression bomb refused: {exc}") from exc
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, RuntimeError) as exc:
        raise DecodeError(f"cannot decode {fmt} image: {str(exc).strip()}") from exc
    except MemoryError as exc:
        raise DecodeError(f"out of memory decoding {fmt} image") from exc
    if orientation in _TRANSPOSING:
        width, height = height, width
    return Decoded(image=rgb, format=fmt, width=width, height=height, captured_at=captured_at, facts=facts)


def _has_exif(img: Image.Image) -> bool:
    try:
        return bool(img.getexif())
    except Exception:  # a corrupt block: read_facts says so
        return False


def _decode_raw(
    data: bytes, fmt: str, certain: bool, *, max_pixels: int, draft_size: int | None
) -> Decoded | None:
    """A RAW file through LibRaw; None for a TIFF that only looked like one (read it as a TIFF)."""
    try:
        raw = decode_raw(data, fmt, certain=certain, max_pixels=max_pixels, min_side=draft_size)
    except RawRejected as exc:
        if not exc.certain:
            return None
        raise DecodeError(str(exc)) from exc
    except ValueError as exc:
        raise DecodeError(f"decompression bomb refused: {exc}") from exc
    except MemoryError as exc:
        raise DecodeError(f"out of memory decoding {fmt} image") from exc
    if max(raw.width, raw.height) > MAX_ASPECT_RATIO * min(raw.width, raw.height):
        raise DecodeError(f"image of {raw.width}x{raw.height} pixels is too thin")
    return Decoded(
        image=raw.image,
        format=fmt,
        width=raw.width,
        height=raw.height,
        captured_at=raw.captured_at,
        facts=raw.facts,
    )
