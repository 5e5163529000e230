"""Decoding untrusted bytes: formats by content, EXIF orientation, modes, and every bad file."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from pixseek.core.errors import UnsupportedImage
from pixseek.media.decode import SNIFF_BYTES, DecodeError, decode_image, sniff
from tests.support.images import encode, jpeg_with_orientation, pattern, png_bomb, truncated_jpeg

LIMIT = 64_000_000


def decode(data: bytes, **kwargs: object) -> np.ndarray:
    """The decoded RGB pixels as an (h, w, 3) uint8 array."""
    decoded = decode_image(data, max_pixels=LIMIT, **kwargs)  # type: ignore[arg-type]
    assert decoded.image.mode == "RGB"
    return np.asarray(decoded.image)


@pytest.mark.parametrize(
    ("fmt", "save_kwargs"),
    [
        ("JPEG", {"quality": 95}),
        ("PNG", {}),
        ("WEBP", {"lossless": True}),
        ("GIF", {}),
        ("BMP", {}),
        ("TIFF", {}),
    ],
)
def test_every_accepted_format_is_identified_by_content(fmt: str, save_kwargs: dict[str, object]) -> None:
    data = encode(pattern(1, (96, 64)), fmt, **save_kwargs)
    assert sniff(data[:SNIFF_BYTES]) == fmt
    decoded = decode_image(data, max_pixels=LIMIT)
    assert decoded.format == fmt
    assert (decoded.width, decoded.height) == (96, 64)
    assert decoded.image.mode == "RGB"
    assert decoded.image.size == (96, 64)


def test_lossless_formats_keep_the_pixels() -> None:
    img = pattern(2, (48, 32))
    expected = np.asarray(img)
    for fmt in ("PNG", "BMP", "TIFF"):
        assert np.array_equal(decode(encode(img, fmt)), expected), fmt
    assert np.array_equal(decode(encode(img, "WEBP", lossless=True)), expected)


def test_png_saved_with_a_jpg_name_is_decoded_as_png() -> None:
    # decode_image never sees the name; the pipeline test checks the name does not matter there.
    data = encode(pattern(3), "PNG")
    assert decode_image(data, max_pixels=LIMIT).format == "PNG"


def test_animated_gif_gives_its_first_frame() -> None:
    red = Image.new("RGB", (32, 24), (255, 0, 0))
    blue = Image.new("RGB", (32, 24), (0, 0, 255))
    data = encode(red, "GIF", save_all=True, append_images=[blue], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    pixels = decode(data)
    assert pixels.shape == (24, 32, 3)
    assert tuple(pixels[12, 16]) == (255, 0, 0)


def _left_red_right_blue(width: int, height: int) -> Image.Image:
    img = Image.new("RGB", (width, height), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, width // 2, height))
    return img


def test_exif_orientation_6_is_applied_and_size_recorded_as_displayed() -> None:
    # Stored 80x40 with orientation 6 ("rotate 90 clockwise to display"): shown 40x80,
    # the stored left half (red) on top.
    data = jpeg_with_orientation(_left_red_right_blue(80, 40), 6, quality=95)
    decoded = decode_image(data, max_pixels=LIMIT)
    assert (decoded.width, decoded.height) == (40, 80)
    assert decoded.image.size == (40, 80)
    pixels = np.asarray(decoded.image).astype(int)
    assert np.abs(pixels[10, 20] - (255, 0, 0)).max() < 40
    assert np.abs(pixels[70, 20] - (0, 0, 255)).max() < 40


def test_exif_orientation_3_keeps_the_size_and_turns_the_picture() -> None:
    data = jpeg_with_orientation(_left_red_right_blue(80, 40), 3, quality=95)
    decoded = decode_image(data, max_pixels=LIMIT)
    assert (decoded.width, decoded.height) == (80, 40)
    pixels = np.asarray(decoded.image).astype(int)
    assert np.abs(pixels[20, 10] - (0, 0, 255)).max() < 40  # the right half now on the left
    assert np.abs(pixels[20, 70] - (255, 0, 0)).max() < 40


def test_draft_decoding_records_the_full_displayed_size() -> None:
    data = jpeg_with_orientation(pattern(4, (1024, 512)), 6, quality=90)
    decoded = decode_image(data, max_pixels=LIMIT, draft_size=128)
    assert (decoded.width, decoded.height) == (512, 1024)
    w, h = decoded.image.size
    assert w < 512 and h < 1024  # reduced by the JPEG draft mode...
    assert min(w, h) >= 128  # ...never below the requested size
    assert w / h == pytest.approx(0.5, abs=0.02)


def test_cmyk_jpeg_is_converted_to_rgb() -> None:
    data = encode(Image.new("CMYK", (40, 30), (0, 255, 255, 0)), "JPEG", quality=95)
    pixels = decode(data).astype(int)
    assert np.abs(pixels[15, 20] - (255, 0, 0)).max() < 10


def test_palette_png_with_transparency_is_composited_on_white() -> None:
    img = Image.new("P", (20, 10), 0)
    img.putpalette([0, 0, 0] + [200, 30, 40] + [0, 0, 0] * 254)
    img.paste(1, (10, 0, 20, 10))  # right half: opaque colour 1; left half: index 0, transparent
    data = encode(img, "PNG", transparency=0)
    pixels = decode(data)
    assert tuple(pixels[5, 2]) == (255, 255, 255)
    assert tuple(pixels[5, 15]) == (200, 30, 40)


def test_16_bit_grey_png_keeps_its_grey_levels() -> None:
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (16, 1))
    img = Image.fromarray(ramp)
    assert img.mode == "I;16"
    pixels = decode(encode(img, "PNG"))
    row = pixels[8, :, 0].astype(int)
    assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()
    assert row[0] == 0 and row[-1] == 255
    assert abs(row[128] - 128) <= 2  # mid-range grey, not clipped to white
    assert (np.diff(row) >= 0).all()
    assert len(set(row.tolist())) > 200


def test_16_bit_dark_grey_png_is_not_stretched_or_whitened() -> None:
    img = Image.fromarray(np.full((8, 8), 65535 // 4, dtype=np.uint16))
    pixels = decode(encode(img, "PNG"))
    assert abs(int(pixels[4, 4, 0]) - 64) <= 1


def test_rgba_png_is_composited_on_white() -> None:
    arr = np.zeros((10, 20, 4), dtype=np.uint8)
    arr[:, :10] = (0, 0, 0, 0)  # fully transparent black
    arr[:, 10:] = (0, 0, 255, 255)  # opaque blue
    pixels = decode(encode(Image.fromarray(arr, "RGBA"), "PNG"))
    assert tuple(pixels[5, 2]) == (255, 255, 255)
    assert tuple(pixels[5, 15]) == (0, 0, 255)


def test_half_transparent_rgba_blends_with_white() -> None:
    arr = np.zeros((4, 4, 4), dtype=np.uint8)
    arr[...] = (0, 0, 0, 128)
    pixels = decode(encode(Image.fromarray(arr, "RGBA"), "PNG")).astype(int)
    assert np.abs(pixels[2, 2] - 127).max() <= 2


def test_la_png_is_composited_on_white() -> None:
    arr = np.zeros((10, 20, 2), dtype=np.uint8)
    arr[:, :10] = (0, 0)
    arr[:, 10:] = (60, 255)
    pixels = decode(encode(Image.fromarray(arr, "LA"), "PNG"))
    assert tuple(pixels[5, 2]) == (255, 255, 255)
    assert tuple(pixels[5, 15]) == (60, 60, 60)


def test_grey_and_1_bit_images_become_rgb() -> None:
    assert tuple(decode(encode(Image.new("L", (8, 8), 77), "PNG"))[0, 0]) == (77, 77, 77)
    assert tuple(decode(encode(Image.new("1", (8, 8), 1), "BMP"))[0, 0]) == (255, 255, 255)


def test_empty_file_is_a_failure_not_a_skip() -> None:
    with pytest.raises(DecodeError) as err:
        decode_image(b"", max_pixels=LIMIT)
    assert err.value.detail == "empty file"
    assert not err.value.skip
    # One of the API's errors: an upload that fails here is answered 415.
    assert isinstance(err.value, UnsupportedImage)
    assert (err.value.status_code, err.value.code) == (415, "unsupported_image")


def test_truncated_jpeg_fails_with_a_reason() -> None:
    with pytest.raises(DecodeError) as err:
        decode_image(truncated_jpeg(), max_pixels=LIMIT)
    assert "truncated" in err.value.detail
    assert not err.value.skip


def test_truncated_jpeg_fails_in_draft_mode_too() -> None:
    with pytest.raises(DecodeError, match="truncated"):
        decode_image(truncated_jpeg(), max_pixels=LIMIT, draft_size=32)


def test_jpeg_cut_inside_its_header_fails() -> None:
    data = encode(pattern(5), "JPEG")[:20]
    with pytest.raises(DecodeError) as err:
        decode_image(data, max_pixels=LIMIT)
    assert "JPEG" in err.value.detail
    assert not err.value.skip


def test_unrecognised_bytes_are_marked_skippable() -> None:
    for data in (b"hello, this is text\n", b"\x00" + np.random.default_rng(1).bytes(300)):
        with pytest.raises(DecodeError) as err:
            decode_image(data, max_pixels=LIMIT)
        assert err.value.skip
        assert "not an image" in err.value.detail


def test_garbage_behind_a_valid_signature_fails() -> None:
    for data in (b"GIF89a" + b"\0" * 40, b"BM" + b"\0" * 100, b"\x89PNG\r\n\x1a\n" + b"\xff" * 64):
        with pytest.raises(DecodeError) as err:
            decode_image(data, max_pixels=LIMIT)
        assert not err.value.skip


@pytest.mark.parametrize("size", [(100_000, 100_000), (20_000, 20_000), (10_000, 10_000)])
def test_png_header_claiming_huge_dimensions_is_a_decompression_bomb(size: tuple[int, int]) -> None:
    with pytest.raises(DecodeError) as err:
        decode_image(png_bomb(*size), max_pixels=LIMIT)
    assert "decompression bomb" in err.value.detail
    assert not err.value.skip


def test_real_image_over_a_small_pixel_limit_is_a_decompression_bomb() -> None:
    data = encode(pattern(6, (200, 100)), "PNG")
    with pytest.raises(DecodeError) as err:
        decode_image(data, max_pixels=200 * 100 - 1)
    assert err.value.detail == (
        "decompression bomb refused: 200x100 = 20000 pixels exceeds the limit of 19999"
    )
    assert decode_image(data, max_pixels=200 * 100).width == 200


def test_capture_time_is_read_from_exif() -> None:
    exif = Image.Exif()
    exif[0x0132] = "2021:06:30 12:34:56"
    data = encode(pattern(7), "JPEG", exif=exif.tobytes())
    captured = decode_image(data, max_pixels=LIMIT).captured_at
    assert captured is not None
    assert captured.isoformat() == "2021-06-30T12:34:56+00:00"
    assert decode_image(encode(pattern(7), "PNG"), max_pixels=LIMIT).captured_at is None


@pytest.mark.filterwarnings("ignore::UserWarning")  # PIL warns about the corrupt tags it skips
@pytest.mark.parametrize(
    ("fmt", "save_kwargs"),
    [
        ("JPEG", {}),
        ("JPEG", {"progressive": True}),
        ("PNG", {}),
        ("WEBP", {}),
        ("GIF", {"save_all": True, "append_images": [pattern(9, (48, 32))]}),
        ("BMP", {}),
        ("TIFF", {"compression": "tiff_lzw"}),
        ("TIFF", {"compression": "packbits"}),
    ],
)
def test_mutated_files_only_ever_raise_decode_error(fmt: str, save_kwargs: dict[str, object]) -> None:
    data = encode(pattern(8, (48, 32)), fmt, **save_kwargs)
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
            decoded = decode_image(bytes(mutated), max_pixels=LIMIT, draft_size=32)
        except DecodeError as exc:
            assert exc.detail
        else:
            assert decoded.image.mode == "RGB"


def test_extremely_thin_image_is_refused_before_the_model_resize_could_blow_up() -> None:
    # 100,000 pixels pass the pixel limit, but scaling the short side up to the model's input
    # size would allocate 64 x 6,400,000 pixels.
    strip = encode(Image.new("L", (1, 100_000), 128), "PNG")
    with pytest.raises(DecodeError) as err:
        decode_image(strip, max_pixels=LIMIT)
    assert "too thin" in err.value.detail and "1x100000" in err.value.detail
    assert not err.value.skip
    assert decode_image(encode(Image.new("L", (1, 200), 128), "PNG"), max_pixels=LIMIT).height == 200
