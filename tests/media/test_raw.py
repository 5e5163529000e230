"""Camera RAW files: recognised by content, decoded through LibRaw (preview or demosaic), bad ones refused.

The DNGs are written here (`tests/support/raw_files.py`: a TIFF with Adobe's DNG tags, an
RGGB mosaic of a picture, an optional RGB preview); the other RAW formats are recognised by
their first bytes and refused with LibRaw's reason when they hold nothing it can read.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pixseek.media.decode import SNIFF_BYTES, DecodeError, decode_image, sniff
from pixseek.media.raw import PREVIEW_MIN_SIDE, sniff_raw, tiff_raw_format
from tests.support.images import encode, pattern
from tests.support.raw_files import dng

LIMIT = 64_000_000


def _red_left_blue_right(size: tuple[int, int] = (120, 80)) -> Image.Image:
    img = Image.new("RGB", size, (0, 0, 230))
    img.paste((230, 0, 0), (0, 0, size[0] // 2, size[1]))
    return img


def _hue_at(img: Image.Image, x: float, y: float) -> str:
    r, _g, b = np.asarray(img.convert("RGB"))[int(y * img.height), int(x * img.width)].astype(int)
    return "red" if r > b else "blue"


def test_a_dng_without_preview_is_demosaiced_at_its_full_size() -> None:
    data = dng(_red_left_blue_right(), size=(96, 64))
    assert sniff(data[:SNIFF_BYTES]) == "TIFF" and tiff_raw_format(data) == ("DNG", True)
    decoded = decode_image(data, max_pixels=LIMIT)
    assert (decoded.format, decoded.width, decoded.height) == ("DNG", 96, 64)
    assert decoded.image.size == (96, 64) and decoded.image.mode == "RGB"
    assert _hue_at(decoded.image, 0.2, 0.5) == "red" and _hue_at(decoded.image, 0.8, 0.5) == "blue"


def test_a_large_enough_preview_is_used_and_turned_as_displayed() -> None:
    data = dng(_red_left_blue_right(), size=(96, 64), preview=(1536, 1024), orientation=6)
    decoded = decode_image(data, max_pixels=LIMIT, draft_size=448)
    # Turned a quarter clockwise: what was on the left is now on top.
    assert (decoded.width, decoded.height) == (64, 96) and decoded.image.size == (1024, 1536)
    assert _hue_at(decoded.image, 0.5, 0.2) == "red" and _hue_at(decoded.image, 0.5, 0.8) == "blue"


def test_a_small_preview_is_passed_over_for_the_mosaic() -> None:
    data = dng(_red_left_blue_right(), size=(96, 64), preview=(48, 32))
    decoded = decode_image(data, max_pixels=LIMIT)
    assert decoded.image.size == (96, 64)  # demosaiced, not the 48x32 preview
    assert PREVIEW_MIN_SIDE > 32


def test_the_sensor_size_is_checked_before_decoding() -> None:
    with pytest.raises(DecodeError, match="decompression bomb refused"):
        decode_image(dng(pattern(1), size=(96, 64)), max_pixels=96 * 64 - 1)


def test_a_dng_libraw_rejects_is_refused_with_its_reason() -> None:
    data = bytearray(dng(pattern(2), size=(96, 64)))
    at = data.find(b"\x11\x01\x04\x00\x01\x00\x00\x00")  # StripOffsets, LONG, 1 value
    data[at + 8 : at + 12] = (0x7FFFFF00).to_bytes(4, "little")  # the mosaic is past the end
    with pytest.raises(DecodeError, match="LibRaw cannot read this DNG file"):
        decode_image(bytes(data), max_pixels=LIMIT)


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (b"FUJIFILMCCD-RAW 0201FF383501", "RAF"),
        (b"IIRO\x08\x00\x00\x00", "ORF"),
        (b"IIU\x00\x08\x00\x00\x00", "RW2"),
        (b"\x00\x00\x00\x18ftypcrx \x00\x00\x00\x01crx isom", "CR3"),
    ],
)
def test_other_raw_formats_are_recognised_and_refused_when_empty(head: bytes, fmt: str) -> None:
    data = head + b"\x00" * 200
    assert sniff_raw(data) == fmt and sniff(data[:SNIFF_BYTES]) == fmt
    with pytest.raises(DecodeError, match=f"LibRaw cannot read this {fmt} file"):
        decode_image(data, max_pixels=LIMIT)


def test_a_plain_tiff_is_still_a_tiff() -> None:
    data = encode(pattern(3), "TIFF")
    assert tiff_raw_format(data) is None
    assert decode_image(data, max_pixels=LIMIT).format == "TIFF"


def test_a_camera_tiff_that_libraw_rejects_is_read_as_a_tiff() -> None:
    # A maker and sub-directories: it could be a NEF, so LibRaw is asked first.
    exif = Image.Exif()
    exif[0x010F] = "NIKON CORPORATION"
    exif[0x014A] = 8
    data = encode(pattern(4), "TIFF", exif=exif.tobytes())
    assert tiff_raw_format(data) == ("NEF", False)
    assert decode_image(data, max_pixels=LIMIT).format == "TIFF"
