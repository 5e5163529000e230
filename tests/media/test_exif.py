"""EXIF facts (camera, lens, exposure, GPS) read from real files of every format, and bad blocks kept apart.

The files are written here: Pillow's `Image.Exif` with its Exif and GPS directories saved
into JPEG, PNG (`eXIf`), WebP, TIFF and HEIC (pillow-heif), and DNGs written byte by byte
(`tests/support/raw_files.py`).
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from pixseek.media.decode import decode_image
from pixseek.media.exif import PhotoFacts, camera_name, read_facts
from tests.support.images import encode, pattern
from tests.support.raw_files import camera_exif, dng

LIMIT = 64_000_000
LISBON = (38.7139, -9.1394)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "HEIF", "AVIF"])
def test_camera_lens_exposure_and_position_are_read_from_each_format(fmt: str) -> None:
    exif = camera_exif(gps=LISBON, altitude=-12.5)
    facts = decode_image(encode(pattern(1), fmt, exif=exif.tobytes()), max_pixels=LIMIT).facts
    assert (facts.camera, facts.lens) == ("Apple iPhone 13", "iPhone 13 back dual wide camera 5.1mm f/1.6")
    assert facts.exposure_time == pytest.approx(1 / 120) and facts.f_number == pytest.approx(1.6)
    assert (facts.iso, facts.focal_length_35mm) == (50, 26) and facts.focal_length == pytest.approx(5.1)
    assert facts.latitude == pytest.approx(LISBON[0], abs=1e-5) and facts.longitude == pytest.approx(
        LISBON[1], abs=1e-5
    )
    assert facts.altitude == pytest.approx(-12.5) and facts.problems == ()


def test_a_photo_without_exif_has_no_facts() -> None:
    facts = decode_image(encode(pattern(2), "JPEG"), max_pixels=LIMIT).facts
    assert facts == PhotoFacts() and facts.empty and facts.camera is None


def test_positions_out_of_range_or_at_zero_are_dropped_with_a_reason() -> None:
    exif = camera_exif(gps=(10.0, 20.0))
    exif.get_ifd(0x8825)[2] = (123.0, 0.0, 0.0)  # latitude 123 degrees
    facts = decode_image(encode(pattern(3), "JPEG", exif=exif.tobytes()), max_pixels=LIMIT).facts
    assert facts.latitude is None and facts.longitude is None
    assert facts.problems == ("GPS position out of range: latitude 123, longitude 20",)
    assert facts.camera == "Apple iPhone 13"  # the rest is kept
    zero = decode_image(
        encode(pattern(3), "JPEG", exif=camera_exif(gps=(0.0, 0.0)).tobytes()), max_pixels=LIMIT
    )
    assert zero.facts.latitude is None and zero.facts.problems == ("GPS position 0, 0 (no fix)",)


def test_a_corrupt_exif_block_is_recorded_and_the_picture_still_decodes() -> None:
    good = camera_exif(gps=LISBON).tobytes()
    # The GPS directory's offset points past the end of the block (Pillow writes big-endian).
    broken = bytearray(good)
    at = broken.find(b"\x88\x25\x00\x04")  # tag 0x8825, type LONG
    assert at > 0
    broken[at + 8 : at + 12] = (60_000).to_bytes(4, "big")
    decoded = decode_image(encode(pattern(4), "JPEG", exif=bytes(broken)), max_pixels=LIMIT)
    assert decoded.width == 96 and decoded.facts.latitude is None
    assert decoded.facts.camera == "Apple iPhone 13"
    assert any("GPS" in p for p in decoded.facts.problems), decoded.facts.problems
    garbage = encode(pattern(4), "JPEG", exif=b"Exif\x00\x00II*\x00\xff\xff\xff\x7f" + b"\x00" * 20)
    assert decode_image(garbage, max_pixels=LIMIT).width == 96


def test_exif_that_pillow_cannot_parse_at_all_is_one_problem() -> None:
    class Broken:
        def __init__(self) -> None:
            self.info: dict[str, object] = {}

        def getexif(self) -> Image.Exif:
            raise SyntaxError("not a TIFF file")

    facts = read_facts(Broken())  # type: ignore[arg-type]
    assert facts.problems == ("corrupt EXIF block: SyntaxError: not a TIFF file",)


def test_a_dng_carries_its_camera_lens_and_position() -> None:
    data = dng(Image.new("RGB", (90, 60), "red"), gps=LISBON, orientation=6)
    decoded = decode_image(data, max_pixels=LIMIT)
    facts = decoded.facts
    assert decoded.format == "DNG" and facts.camera == "Canon EOS R6" and facts.orientation == 6
    assert (facts.lens, facts.iso, facts.f_number) == ("RF 35mm F1.8 MACRO IS STM", 200, 2.8)
    assert facts.latitude == pytest.approx(LISBON[0], abs=1e-4) and facts.longitude == pytest.approx(
        LISBON[1], abs=1e-4
    )
    assert decoded.captured_at is not None and decoded.captured_at.isoformat() == "2024-05-17T14:03:21+00:00"


@pytest.mark.parametrize(
    ("make", "model", "said"),
    [
        ("Canon", "Canon EOS R5", "Canon EOS R5"),
        ("NIKON CORPORATION", "NIKON D750", "NIKON D750"),
        ("OLYMPUS IMAGING CORP.", "E-M10", "OLYMPUS E-M10"),
        ("Apple", "iPhone 13", "Apple iPhone 13"),
        (None, "X100V", "X100V"),
        ("SONY", None, "SONY"),
    ],
)
def test_camera_names_read_as_people_say_them(make: str | None, model: str | None, said: str) -> None:
    assert camera_name(make, model) == said


def test_strings_are_cut_and_cleaned() -> None:
    exif = camera_exif(make="Acme\x00\x00", model="X" * 500)
    buffer = io.BytesIO()
    pattern(5).save(buffer, "JPEG", exif=exif.tobytes())
    facts = decode_image(buffer.getvalue(), max_pixels=LIMIT).facts
    assert facts.camera_make == "Acme" and facts.camera_model is not None and len(facts.camera_model) == 120
