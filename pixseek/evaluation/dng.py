"""RAW files made here, for tests and benchmarks: DNGs (TIFF with Adobe's DNG tags), written byte by byte.

A DNG is a TIFF whose directories carry `DNGVersion`, a colour matrix and a CFA (Bayer)
image; LibRaw reads it like a camera's. `dng()` writes one with an RGGB mosaic sampled
from a picture (so the demosaiced result looks like it), optionally a preview in IFD0 (8-bit
RGB, or a JPEG as cameras embed it) with the mosaic in a SubIFD (the layout cameras and
Adobe's converter use), and Exif and GPS directories. No file is downloaded; the bytes are
exactly what this module writes. `camera_exif` is a phone's EXIF block, through Pillow.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

SHORT, LONG, RATIONAL, SRATIONAL, ASCII, BYTE = 3, 4, 5, 10, 2, 1
_SIZES = {BYTE: 1, ASCII: 1, SHORT: 2, LONG: 4, RATIONAL: 8, SRATIONAL: 8}


@dataclass
class _Ifd:
    tags: dict[int, tuple[int, list[Any]]] = field(default_factory=dict)  # tag -> (type, values)
    data: bytes = b""  # the strip, if any (its offset is patched in)
    children: dict[int, _Ifd] = field(default_factory=dict)  # pointer tag -> directory


def _rational(value: float, signed: bool = False) -> tuple[int, int]:
    den = 1_000_000
    return round(value * den), den


def _encode(kind: int, values: list) -> bytes:
    if kind == ASCII:
        return values[0].encode() + b"\x00"
    if kind == BYTE:
        return bytes(values)
    if kind == SHORT:
        return struct.pack(f"<{len(values)}H", *values)
    if kind == LONG:
        return struct.pack(f"<{len(values)}I", *values)
    fmt = "<ii" if kind == SRATIONAL else "<II"
    return b"".join(
        struct.pack(fmt, *_rational(v)) if isinstance(v, float) else struct.pack(fmt, *v) for v in values
    )


def _count(kind: int, values: list) -> int:
    return len(values[0]) + 1 if kind == ASCII else len(values)


class _Writer:
    def __init__(self) -> None:
        self.out = bytearray(b"II*\x00\x00\x00\x00\x00")

    def _align(self) -> None:
        if len(self.out) % 2:
            self.out += b"\x00"

    def write(self, ifd: _Ifd) -> int:
        """Write `ifd` (its data, children and values first); returns its offset."""
        tags = dict(ifd.tags)
        for tag, child in ifd.children.items():
            tags[tag] = (LONG, [self.write(child)])
        strip = None
        if ifd.data:
            self._align()
            strip = len(self.out)
            self.out += ifd.data
            tags[273] = (LONG, [strip])
            tags[279] = (LONG, [len(ifd.data)])
        blobs: dict[int, int] = {}
        for tag, (kind, values) in tags.items():
            raw = _encode(kind, values)
            if len(raw) > 4:
                self._align()
                blobs[tag] = len(self.out)
                self.out += raw
        self._align()
        offset = len(self.out)
        self.out += struct.pack("<H", len(tags))
        for tag in sorted(tags):
            kind, values = tags[tag]
            raw = _encode(kind, values)
            value = struct.pack("<I", blobs[tag]) if tag in blobs else raw.ljust(4, b"\x00")
            self.out += struct.pack("<HHI", tag, kind, _count(kind, values)) + value
        self.out += struct.pack("<I", 0)
        return offset

    def finish(self, root: _Ifd) -> bytes:
        first = self.write(root)
        self.out[4:8] = struct.pack("<I", first)
        return bytes(self.out)


def _dms(value: float) -> list[tuple[int, int]]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = (value - degrees - minutes / 60) * 3600
    return [(degrees, 1), (minutes, 1), (round(seconds * 10000), 10000)]


def exif_ifds(
    *,
    captured: str | None = "2024:05:17 14:03:21",
    exposure: tuple[int, int] = (1, 250),
    f_number: tuple[int, int] = (28, 10),
    iso: int = 200,
    focal: tuple[int, int] = (35, 1),
    lens: str | None = "RF 35mm F1.8 MACRO IS STM",
    gps: tuple[float, float] | None = None,
) -> dict[int, _Ifd]:
    """The Exif (0x8769) and GPS (0x8825) directories of a photo, ready to hang under IFD0."""
    exif = _Ifd(
        {
            0x829A: (RATIONAL, [exposure]),
            0x829D: (RATIONAL, [f_number]),
            0x8827: (SHORT, [iso]),
            0x920A: (RATIONAL, [focal]),
        }
    )
    if captured:
        exif.tags[0x9003] = (ASCII, [captured])
    if lens:
        exif.tags[0xA434] = (ASCII, [lens])
    out = {0x8769: exif}
    if gps is not None:
        lat, lon = gps
        out[0x8825] = _Ifd(
            {
                0: (BYTE, [2, 3, 0, 0]),
                1: (ASCII, ["N" if lat >= 0 else "S"]),
                2: (RATIONAL, _dms(lat)),
                3: (ASCII, ["E" if lon >= 0 else "W"]),
                4: (RATIONAL, _dms(lon)),
            }
        )
    return out


def _mosaic(picture: Image.Image, width: int, height: int) -> bytes:
    """An RGGB Bayer mosaic of `picture` at 12 bits in 16-bit samples."""
    rgb = np.asarray(picture.convert("RGB").resize((width, height)), dtype=np.float32) / 255.0
    linear = rgb**2.2 * 4000 + 64
    cfa = np.empty((height, width), dtype=np.uint16)
    cfa[0::2, 0::2] = linear[0::2, 0::2, 0]
    cfa[0::2, 1::2] = linear[0::2, 1::2, 1]
    cfa[1::2, 0::2] = linear[1::2, 0::2, 1]
    cfa[1::2, 1::2] = linear[1::2, 1::2, 2]
    return cfa.astype("<u2").tobytes()


def dng(
    picture: Image.Image,
    *,
    size: tuple[int, int] = (96, 64),
    preview: tuple[int, int] | None = None,
    jpeg_preview: bool = False,
    make: str = "Canon",
    model: str = "Canon EOS R6",
    orientation: int = 1,
    **exif: object,
) -> bytes:
    """A valid DNG of `picture`: the mosaic at `size`, a preview at `preview` if given (a JPEG
    with `jpeg_preview`, else uncompressed RGB).

    `exif` goes to `exif_ifds` (capture time, exposure, lens, `gps=(lat, lon)`).
    """
    width, height = size
    camera: dict[int, tuple[int, list[Any]]] = {
        271: (ASCII, [make]),
        272: (ASCII, [model]),
        274: (SHORT, [orientation]),
        50706: (BYTE, [1, 4, 0, 0]),  # DNGVersion
        50708: (ASCII, [f"{make} {model}"]),  # UniqueCameraModel
    }
    raw = _Ifd(
        {
            254: (LONG, [0]),
            256: (LONG, [width]),
            257: (LONG, [height]),
            258: (SHORT, [16]),
            259: (SHORT, [1]),
            262: (SHORT, [32803]),  # CFA
            277: (SHORT, [1]),
            278: (LONG, [height]),
            284: (SHORT, [1]),
            33421: (SHORT, [2, 2]),  # CFARepeatPatternDim
            33422: (BYTE, [0, 1, 1, 2]),  # CFAPattern: RGGB
            50714: (LONG, [64]),  # BlackLevel
            50717: (LONG, [4095]),  # WhiteLevel
        },
        data=_mosaic(picture, width, height),
    )
    colour: dict[int, tuple[int, list[Any]]] = {
        50721: (
            SRATIONAL,
            [(1, 1), (0, 1), (0, 1), (0, 1), (1, 1), (0, 1), (0, 1), (0, 1), (1, 1)],
        ),  # ColorMatrix1
        50778: (SHORT, [21]),  # CalibrationIlluminant1: D65
        50728: (RATIONAL, [(1, 1), (1, 1), (1, 1)]),  # AsShotNeutral
    }
    children = exif_ifds(**exif)  # type: ignore[arg-type]
    if preview is None:
        root = raw
        root.tags.update(camera | colour)
        root.children.update(children)
    else:
        pw, ph = preview
        rgb = picture.convert("RGB").resize((pw, ph))
        if jpeg_preview:
            buffer = io.BytesIO()
            rgb.save(buffer, "JPEG", quality=90)
            strip, compression, photometric = buffer.getvalue(), 7, 6  # JPEG, YCbCr
        else:
            strip, compression, photometric = rgb.tobytes(), 1, 2
        root = _Ifd(
            {
                254: (LONG, [1]),
                256: (LONG, [pw]),
                257: (LONG, [ph]),
                258: (SHORT, [8, 8, 8]),
                259: (SHORT, [compression]),
                262: (SHORT, [photometric]),
                277: (SHORT, [3]),
                278: (LONG, [ph]),
                284: (SHORT, [1]),
                **camera,
                **colour,
            },
            data=strip,
            children={**children, 330: raw},  # SubIFDs: the mosaic
        )
    return _Writer().finish(root)


def camera_exif(
    *,
    make: str | None = "Apple",
    model: str | None = "iPhone 13",
    lens: str | None = "iPhone 13 back dual wide camera 5.1mm f/1.6",
    gps: tuple[float, float] | None = None,
    altitude: float | None = None,
    taken: str | None = "2024:05:17 14:03:21",
) -> Image.Exif:
    """An EXIF block as a phone writes it (Pillow's `Image.Exif`, with its Exif and GPS IFDs)."""
    from PIL.TiffImagePlugin import IFDRational

    exif = Image.Exif()
    if make:
        exif[0x010F] = make
    if model:
        exif[0x0110] = model
    main = exif.get_ifd(0x8769)
    main[0x829A] = IFDRational(1, 120)  # ExposureTime
    main[0x829D] = IFDRational(16, 10)  # FNumber
    main[0x8827] = 50  # ISO
    main[0x920A] = IFDRational(51, 10)  # FocalLength
    main[0xA405] = 26  # FocalLengthIn35mmFilm
    if lens:
        main[0xA434] = lens
    if taken:
        main[0x9003] = taken
    if gps is not None:
        lat, lon = gps
        block = exif.get_ifd(0x8825)
        block[1], block[3] = ("N" if lat >= 0 else "S"), ("E" if lon >= 0 else "W")
        block[2] = tuple(IFDRational(*pair) for pair in _dms(lat))
        block[4] = tuple(IFDRational(*pair) for pair in _dms(lon))
        if altitude is not None:
            block[5] = b"\x00" if altitude >= 0 else b"\x01"
            block[6] = IFDRational(round(abs(altitude) * 100), 100)
    return exif
