"""HEIC and AVIF: read by content, turned, dated, and every bad file refused."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pixseek.media.decode import SNIFF_BYTES, DecodeError, decode_image, sniff
from pixseek.media.formats import MEDIA_TYPES
from pixseek.media.isobmff import brand_format, declared_sizes
from tests.support.images import encode, iso_bomb, pattern, truncated, with_exif

LIMIT = 64_000_000
FORMATS = ("HEIF", "AVIF")


def _left_red_right_blue(width: int, height: int) -> Image.Image:
    img = Image.new("RGB", (width, height), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, width // 2, height))
    return img


@pytest.mark.parametrize("fmt", FORMATS)
def test_heif_and_avif_are_identified_by_content_and_decoded(fmt: str) -> None:
    img = pattern(1, (96, 64))
    data = encode(img, fmt, quality=95)
    assert sniff(data[:SNIFF_BYTES]) == fmt
    decoded = decode_image(data, max_pixels=LIMIT)
    assert (decoded.format, decoded.width, decoded.height) == (fmt, 96, 64)
    assert decoded.image.mode == "RGB" and decoded.image.size == (96, 64)
    # Lossy, but the blocks keep their colours.
    error = np.abs(np.asarray(decoded.image).astype(int) - np.asarray(img).astype(int))
    assert float(np.median(error)) < 12


@pytest.mark.parametrize("fmt", FORMATS)
def test_exif_orientation_6_is_applied_and_size_recorded_as_displayed(fmt: str) -> None:
    data = with_exif(_left_red_right_blue(80, 40), fmt, orientation=6)
    decoded = decode_image(data, max_pixels=LIMIT)
    assert (decoded.width, decoded.height) == (40, 80)
    assert decoded.image.size == (40, 80)
    pixels = np.asarray(decoded.image).astype(int)
    assert np.abs(pixels[10, 20] - (255, 0, 0)).max() < 40  # the stored left half is on top
    assert np.abs(pixels[70, 20] - (0, 0, 255)).max() < 40


@pytest.mark.parametrize("fmt", FORMATS)
def test_capture_time_is_read_from_exif(fmt: str) -> None:
    data = with_exif(pattern(7), fmt, taken="2021:06:30 12:34:56")
    captured = decode_image(data, max_pixels=LIMIT).captured_at
    assert captured is not None and captured.isoformat() == "2021-06-30T12:34:56+00:00"
    assert decode_image(encode(pattern(7), fmt), max_pixels=LIMIT).captured_at is None


def test_brands_decide_the_format_whatever_comes_first() -> None:
    def ftyp(major: bytes, *compatible: bytes) -> bytes:
        body = major + b"\0\0\0\0" + b"".join(compatible)
        return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body

    assert brand_format(ftyp(b"mif1", b"mif1", b"heic")) == "HEIF"
    assert brand_format(ftyp(b"mif1", b"miaf", b"avif")) == "AVIF"
    assert brand_format(ftyp(b"avif", b"mif1")) == "AVIF"
    assert brand_format(ftyp(b"isom", b"mp41")) is None  # an MP4 video is not an image
    assert brand_format(ftyp(b"mif1")) is None
    with pytest.raises(DecodeError) as err:
        decode_image(ftyp(b"isom", b"mp42") + b"\0" * 100, max_pixels=LIMIT)
    assert err.value.skip


def test_media_types_are_the_registered_ones() -> None:
    assert (MEDIA_TYPES["HEIF"], MEDIA_TYPES["AVIF"]) == ("image/heic", "image/avif")


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_file_fails_with_a_reason(fmt: str) -> None:
    with pytest.raises(DecodeError) as err:
        decode_image(truncated(fmt), max_pixels=LIMIT)
    assert fmt in err.value.detail
    assert not err.value.skip


@pytest.mark.parametrize("fmt", FORMATS)
def test_file_cut_inside_its_header_fails(fmt: str) -> None:
    data = encode(pattern(5), fmt)
    for cut in (24, 40, 100):
        with pytest.raises(DecodeError) as err:
            decode_image(data[:cut], max_pixels=LIMIT)
        assert fmt in err.value.detail and not err.value.skip


@pytest.mark.parametrize("fmt", FORMATS)
def test_garbage_behind_a_valid_brand_fails(fmt: str) -> None:
    head = encode(pattern(5), fmt)[:32]
    for tail in (b"\0" * 200, np.random.default_rng(3).bytes(400)):
        with pytest.raises(DecodeError) as err:
            decode_image(head + tail, max_pixels=LIMIT)
        assert not err.value.skip


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("size", [(100_000, 100_000), (20_000, 20_000), (10_000, 10_000)])
def test_header_claiming_huge_dimensions_is_a_decompression_bomb(fmt: str, size: tuple[int, int]) -> None:
    data = iso_bomb(fmt, *size)
    assert size in declared_sizes(data)
    with pytest.raises(DecodeError) as err:
        decode_image(data, max_pixels=LIMIT)
    assert "decompression bomb" in err.value.detail and f"{size[0]}x{size[1]}" in err.value.detail
    assert not err.value.skip


@pytest.mark.parametrize("fmt", FORMATS)
def test_real_image_over_a_small_pixel_limit_is_a_decompression_bomb(fmt: str) -> None:
    data = encode(pattern(6, (128, 64)), fmt)
    with pytest.raises(DecodeError, match="decompression bomb"):
        decode_image(data, max_pixels=128 * 64 - 1)
    assert decode_image(data, max_pixels=128 * 64).width == 128


def test_box_walk_survives_boxes_that_lie_about_their_size() -> None:
    data = bytearray(encode(pattern(2, (64, 64)), "AVIF"))
    assert declared_sizes(bytes(data)) == [(64, 64)]
    meta = data.index(b"meta") - 4
    for size in (0, 1, 7, 2**32 - 1):
        broken = bytearray(data)
        broken[meta : meta + 4] = size.to_bytes(4, "big")
        assert isinstance(declared_sizes(bytes(broken)), list)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("fmt", FORMATS)
def test_mutated_files_only_ever_raise_decode_error(fmt: str) -> None:
    data = encode(pattern(8, (48, 32)), fmt, quality=70)
    rng = np.random.default_rng(len(data))
    for _ in range(40):
        mutated = bytearray(data)
        for _ in range(int(rng.integers(1, 6))):
            pos = int(rng.integers(0, len(mutated)))
            match int(rng.integers(0, 3)):
                case 0:
                    mutated[pos] = int(rng.integers(0, 256))
                case 1:
                    del mutated[pos : pos + int(rng.integers(1, 50))]
                case _:
                    mutated[pos:pos] = rng.bytes(int(rng.integers(1, 20)))
        try:
            decoded = decode_image(bytes(mutated), max_pixels=LIMIT)
        except DecodeError as exc:
            assert exc.detail
        else:
            assert decoded.image.mode == "RGB"
