"""Camera RAW files: recognised by content, decoded by LibRaw (rawpy), their EXIF read.

RAW containers are TIFF-based (DNG, CR2, NEF, ARW, PEF; ORF and RW2 with their own magic
numbers in a TIFF layout), ISO-BMFF (CR3, brand `crx `) or Fujifilm's own (RAF, with a
JPEG inside). A TIFF is taken for a RAW when its first directory says so (DNGVersion,
Canon's `CR` mark) or looks like a camera's (a maker with sub-directories or a reduced
first image); LibRaw then decides, and an uncertain TIFF it rejects is read as a TIFF.

Decoding uses the camera's embedded preview when it is large enough for what the caller
needs (`min_side`) and shows the whole frame (fast: a JPEG decode), and LibRaw's full
demosaic otherwise (at half size when that still covers `min_side`). The recorded size is
the full RAW's, as displayed (LibRaw's `flip` applied).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from PIL import Image

from pixseek.media.exif import PhotoFacts, facts_from_exif, read_facts
from pixseek.media.isobmff import child_boxes

# A preview is used when its shorter side is at least this and no `min_side` is asked for.
PREVIEW_MIN_SIDE = 1024
# A preview whose aspect ratio differs more than this from the RAW's is a crop, not the frame.
ASPECT_TOLERANCE = 0.02
DNG_VERSION, SUB_IFDS, NEW_SUBFILE_TYPE, MAKE = 0xC612, 0x014A, 0x00FE, 0x010F
# Camera makers whose TIFF-based RAWs carry no mark of their own, by format name.
_MAKER_FORMATS = {"NIKON": "NEF", "SONY": "ARW", "PENTAX": "PEF", "RICOH": "PEF"}
# Canon's CR3: the uuid box in `moov` that holds the EXIF directories as TIFF structures.
_CANON_UUID = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")
# LibRaw's flip codes: 3 = 180 degrees, 5 = 90 counter-clockwise, 6 = 90 clockwise.
_FLIP_TRANSPOSE = {
    3: Image.Transpose.ROTATE_180,
    5: Image.Transpose.ROTATE_90,
    6: Image.Transpose.ROTATE_270,
}


class RawRejected(Exception):
    """LibRaw could not read the file; `certain` when the content left no doubt it is a RAW."""

    def __init__(self, reason: str, *, certain: bool) -> None:
        super().__init__(reason)
        self.certain = certain


@dataclass
class DecodedRaw:
    image: Image.Image  # RGB, turned as displayed
    width: int  # the full RAW's size as displayed
    height: int
    captured_at: datetime | None
    facts: PhotoFacts
    from_preview: bool


def sniff_raw(head: bytes) -> str | None:
    """A RAW format named by the first bytes alone (not the TIFF-based ones), or None."""
    if head.startswith(b"FUJIFILMCCD-RAW"):
        return "RAF"
    if head[:4] in (b"IIRO", b"IIRS", b"MMOR"):
        return "ORF"
    if head[:4] == b"IIU\x00":
        return "RW2"
    if head[4:8] == b"ftyp" and head[8:12] == b"crx ":
        return "CR3"
    return None


def _tiff_exif(data: bytes) -> Image.Exif | None:
    """The first directory of a TIFF layout (ORF and RW2 read with TIFF's magic number)."""
    if data[:4] in (b"IIRO", b"IIRS", b"IIU\x00"):
        data = b"II*\x00" + data[4:]
    elif data[:4] == b"MMOR":
        data = b"MM\x00*" + data[4:]
    exif = Image.Exif()
    try:
        exif.load(data)
    except Exception:
        return None
    return exif


def tiff_raw_format(data: bytes) -> tuple[str, bool] | None:
    """(format, certain) when a TIFF file looks like a camera RAW, else None."""
    if data[8:10] == b"CR":
        return "CR2", True
    exif = _tiff_exif(data)
    if exif is None:
        return None
    if DNG_VERSION in exif:
        return "DNG", True
    make = str(exif.get(MAKE) or "").strip().upper()
    if make and (SUB_IFDS in exif or exif.get(NEW_SUBFILE_TYPE) == 1):
        return _MAKER_FORMATS.get(make.split()[0], "RAW"), False
    return None


def _cr3_facts(data: bytes) -> PhotoFacts:
    """The EXIF of a CR3: its CMT1 (main), CMT2 (Exif) and CMT4 (GPS) boxes, each a TIFF."""
    tiffs: dict[bytes, bytes] = {}
    for kind, body, end in child_boxes(data, 0, len(data), b"moov"):
        if kind == b"uuid" and data[body : body + 16] == _CANON_UUID:
            for child, start, stop in child_boxes(data, body + 16, end):
                if child in (b"CMT1", b"CMT2", b"CMT4"):
                    tiffs[child] = data[start:stop]
    if b"CMT1" not in tiffs:
        return PhotoFacts()
    main = Image.Exif()
    try:
        main.load(tiffs[b"CMT1"])
        sub = {0x8769: b"CMT2", 0x8825: b"CMT4"}
        for tag, box in sub.items():
            if box in tiffs:
                part = Image.Exif()
                part.load(tiffs[box])
                main._ifds[tag] = dict(part)  # the sub-directory, as get_ifd returns it
    except Exception as exc:
        return PhotoFacts(problems=(f"corrupt EXIF block: {type(exc).__name__}",))
    return facts_from_exif(main)


def _raf_facts(data: bytes) -> PhotoFacts:
    """The EXIF of a RAF: that of the JPEG it carries (offset and length at bytes 84-91)."""
    if len(data) < 92:
        return PhotoFacts()
    offset, length = struct.unpack(">II", data[84:92])
    try:
        with Image.open(io.BytesIO(data[offset : offset + length]), formats=("JPEG",)) as jpeg:
            return read_facts(jpeg)
    except Exception:
        return PhotoFacts(problems=("corrupt EXIF block: the RAF's JPEG cannot be read",))


def raw_facts(data: bytes, fmt: str) -> tuple[PhotoFacts, datetime | None]:
    """The file's own EXIF facts and capture time (before LibRaw's fill the gaps)."""
    from pixseek.media.exif import capture_time

    if fmt == "CR3":
        return _cr3_facts(data), None
    if fmt == "RAF":
        return _raf_facts(data), None
    exif = _tiff_exif(data)
    if exif is None:
        return PhotoFacts(problems=("corrupt EXIF block: the TIFF directories cannot be read",)), None
    return facts_from_exif(exif), capture_time(exif)


def _libraw_facts(raw: object) -> tuple[PhotoFacts, datetime | None]:
    other, lens = raw.other, raw.lens  # type: ignore[attr-defined]
    stamp = other.timestamp
    captured = stamp.replace(tzinfo=UTC) if isinstance(stamp, datetime) and stamp.year > 1970 else None
    lens_name = " ".join(part for part in (lens.make, lens.model) if part).strip() or None
    return (
        PhotoFacts(
            lens=lens_name,
            focal_length=float(other.focal_length) or None,
            exposure_time=float(other.shutter_speed) or None,
            f_number=round(float(other.aperture), 2) or None,
            iso=round(float(other.iso_speed)) or None,
        ),
        captured,
    )


def _preview(raw: object, width: int, height: int, flip: int, min_side: int) -> Image.Image | None:
    """The embedded preview turned as displayed, when it shows the whole frame large enough."""
    import rawpy

    try:
        thumb = raw.extract_thumb()  # type: ignore[attr-defined]
    except (rawpy.LibRawError, rawpy.NotSupportedError):
        return None
    image: Image.Image
    if thumb.format == rawpy.ThumbFormat.JPEG:
        try:
            jpeg = Image.open(io.BytesIO(thumb.data), formats=("JPEG",))
            jpeg.draft("RGB", (min_side, min_side))
            image = jpeg.convert("RGB")
        except Exception:
            return None
    elif isinstance(thumb.data, np.ndarray) and thumb.data.ndim == 3 and thumb.data.shape[2] == 3:
        image = Image.fromarray(thumb.data.astype(np.uint8), "RGB")
    else:
        return None
    pw, ph = image.size
    if min(pw, ph) < min(min_side, width, height):
        return None
    aspect = width / height
    if abs(pw / ph - aspect) <= ASPECT_TOLERANCE * aspect:
        return image.transpose(_FLIP_TRANSPOSE[flip]) if flip in _FLIP_TRANSPOSE else image
    if flip in (5, 6) and abs(ph / pw - aspect) <= ASPECT_TOLERANCE * aspect:
        return image  # already turned by the camera
    return None


def decode_raw(data: bytes, fmt: str, *, certain: bool, max_pixels: int, min_side: int | None) -> DecodedRaw:
    """Decode a RAW file with LibRaw.

    Raises:
        RawRejected: LibRaw cannot read it (`certain` says whether it is surely a RAW).
        ValueError: the sensor has more than `max_pixels` pixels (checked before decoding).
    """
    import rawpy

    need = min_side or PREVIEW_MIN_SIDE
    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            sizes = raw.sizes
            if sizes.raw_width * sizes.raw_height > max_pixels:
                raise ValueError(
                    f"{sizes.raw_width}x{sizes.raw_height} = {sizes.raw_width * sizes.raw_height} "
                    f"sensor pixels, over the limit of {max_pixels}"
                )
            width, height, flip = int(sizes.width), int(sizes.height), int(sizes.flip)
            if width <= 0 or height <= 0:
                raise RawRejected(f"{fmt} file declares an empty image", certain=certain)
            libraw_facts, libraw_time = _libraw_facts(raw)
            image = _preview(raw, width, height, flip, need)
            from_preview = image is not None
            if image is None:
                half = min(width, height) // 2 >= need
                pixels = raw.postprocess(use_camera_wb=True, half_size=half, output_bps=8)
                image = Image.fromarray(np.ascontiguousarray(pixels), "RGB")
    except (rawpy.LibRawError, rawpy.NotSupportedError) as exc:
        detail = " ".join(str(exc).strip("b'\" ").split()) or type(exc).__name__
        raise RawRejected(f"LibRaw cannot read this {fmt} file: {detail}", certain=certain) from exc
    if flip in (5, 6):
        width, height = height, width
    own, own_time = raw_facts(data, fmt)
    return DecodedRaw(
        image=image,
        width=width,
        height=height,
        captured_at=own_time or libraw_time,
        facts=own.merged(libraw_facts),
        from_preview=from_preview,
    )
