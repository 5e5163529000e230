"""What a photo's EXIF says about how and where it was taken: camera, lens, exposure, GPS.

Read from the EXIF Pillow finds in JPEG, PNG (`eXIf`), WebP, TIFF, HEIC (pillow-heif) and
AVIF, or from the TIFF structure of a RAW file (`pixseek/media/raw.py`). EXIF blocks in
the wild are often broken: every value is checked on its own, and what cannot be read is
left out with a reason in `problems` (a corrupt block, a latitude of 123°), never an error,
so the rest of the image's data is kept.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from PIL import Image

EXIF_IFD = 0x8769
GPS_IFD = 0x8825
MAKE, MODEL, ORIENTATION = 0x010F, 0x0110, 0x0112
EXPOSURE_TIME, F_NUMBER, ISO = 0x829A, 0x829D, 0x8827
FOCAL_LENGTH, FOCAL_LENGTH_35MM = 0x920A, 0xA405
LENS_MAKE, LENS_MODEL = 0xA433, 0xA434
DATETIME, DATETIME_ORIGINAL = 0x0132, 0x9003
GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON, GPS_ALT_REF, GPS_ALT = 1, 2, 3, 4, 5, 6

MAX_TEXT = 120  # longer make, model or lens strings are cut (crafted files carry kilobytes)
# Words camera makers append to their names in the Make tag.
_MAKE_SUFFIXES = (" IMAGING CORP.", " CORPORATION", " CORP.", " CO., LTD.", " CO.,LTD.", " COMPANY", " INC.")


@dataclass(frozen=True)
class PhotoFacts:
    """How and where a photo was taken, as far as its metadata says; None where it does not."""

    camera_make: str | None = None
    camera_model: str | None = None
    lens: str | None = None
    focal_length: float | None = None  # millimetres
    focal_length_35mm: int | None = None
    exposure_time: float | None = None  # seconds
    f_number: float | None = None
    iso: int | None = None
    orientation: int | None = None  # EXIF 1-8
    latitude: float | None = None  # WGS 84 degrees, north positive
    longitude: float | None = None  # east positive
    altitude: float | None = None  # metres above sea level
    problems: tuple[str, ...] = field(default=())  # what could not be read, and why

    @property
    def camera(self) -> str | None:
        """Make and model as people say them: "Canon EOS R5", "Apple iPhone 13", "NIKON D750"."""
        return camera_name(self.camera_make, self.camera_model)

    @property
    def has_location(self) -> bool:
        return self.latitude is not None and self.longitude is not None

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) in (None, ()) for f in fields(self))

    def merged(self, other: PhotoFacts) -> PhotoFacts:
        """These facts, with `other`'s filling the gaps."""
        values = {
            f.name: getattr(self, f.name) if getattr(self, f.name) is not None else getattr(other, f.name)
            for f in fields(self)
            if f.name != "problems"
        }
        return PhotoFacts(**values, problems=(*self.problems, *other.problems))


def camera_name(make: str | None, model: str | None) -> str | None:
    if not model:
        return make or None
    if not make:
        return model
    short = make
    for suffix in _MAKE_SUFFIXES:
        if short.upper().endswith(suffix):
            short = short[: -len(suffix)].strip()
            break
    if model.lower().startswith(short.lower()) or model.lower().startswith(short.split()[0].lower()):
        return model
    return f"{short} {model}"


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    cleaned = "".join(ch for ch in value.replace("\x00", " ") if ch.isprintable()).strip()
    return cleaned[:MAX_TEXT] or None


def _number(value: Any) -> float | None:
    """A finite float from an EXIF number or rational (a 0/0 rational is no number)."""
    if isinstance(value, tuple | list):
        value = value[0] if len(value) == 1 else None
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) else None


def _positive(value: Any, upper: float) -> float | None:
    number = _number(value)
    return number if number is not None and 0 < number <= upper else None


def _degrees(value: Any) -> float | None:
    """Degrees from EXIF's (degrees, minutes, seconds) rationals."""
    if not isinstance(value, tuple | list) or not 1 <= len(value) <= 3:
        return None
    parts = [_number(v) for v in value]
    if any(p is None or p < 0 for p in parts):
        return None
    d, m, s = ([*parts, 0.0, 0.0])[:3]
    assert d is not None and m is not None and s is not None
    return d + m / 60 + s / 3600


def _ref(value: Any) -> str:
    return (_text(value) or "").upper()[:1]


def _location(gps: dict[int, Any], problems: list[str]) -> dict[str, float]:
    if GPS_LAT not in gps and GPS_LON not in gps:
        return {}
    lat, lon = _degrees(gps.get(GPS_LAT)), _degrees(gps.get(GPS_LON))
    if lat is None or lon is None:
        problems.append("GPS position unreadable")
        return {}
    if _ref(gps.get(GPS_LAT_REF)) == "S":
        lat = -lat
    if _ref(gps.get(GPS_LON_REF)) == "W":
        lon = -lon
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        problems.append(f"GPS position out of range: latitude {lat:.6g}, longitude {lon:.6g}")
        return {}
    if lat == 0 and lon == 0:  # what many devices write when they had no fix
        problems.append("GPS position 0, 0 (no fix)")
        return {}
    out = {"latitude": round(lat, 7), "longitude": round(lon, 7)}
    altitude = _number(gps.get(GPS_ALT))
    if altitude is not None and abs(altitude) <= 100_000:
        below = _number(gps.get(GPS_ALT_REF)) == 1 or gps.get(GPS_ALT_REF) == b"\x01"
        out["altitude"] = round(-altitude if below else altitude, 2)
    return out


def facts_from_exif(exif: Image.Exif) -> PhotoFacts:
    """The facts an EXIF block holds; a sub-directory that cannot be read is a problem, not an error."""
    problems: list[str] = []

    def ifd(tag: int, name: str) -> dict[int, Any]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Pillow warns, then gives an empty directory
                found = dict(exif.get_ifd(tag))
        except Exception as exc:  # malformed offsets, loops, truncated blocks
            problems.append(f"corrupt EXIF {name} directory: {type(exc).__name__}")
            return {}
        if not found and tag in exif:
            problems.append(f"corrupt EXIF {name} directory: it cannot be read")
        return found

    main, gps = ifd(EXIF_IFD, "Exif"), ifd(GPS_IFD, "GPS")
    iso = _number(main.get(ISO))
    orientation = _number(exif.get(ORIENTATION))
    lens = _text(main.get(LENS_MODEL))
    lens_make = _text(main.get(LENS_MAKE))
    if lens and lens_make and not lens.lower().startswith(lens_make.lower()):
        lens = f"{lens_make} {lens}"[:MAX_TEXT]
    focal35 = _positive(main.get(FOCAL_LENGTH_35MM), 10_000)
    return PhotoFacts(
        camera_make=_text(exif.get(MAKE)),
        camera_model=_text(exif.get(MODEL)),
        lens=lens,
        focal_length=_positive(main.get(FOCAL_LENGTH), 10_000),
        focal_length_35mm=None if focal35 is None else round(focal35),
        exposure_time=_positive(main.get(EXPOSURE_TIME), 100_000),
        f_number=_positive(main.get(F_NUMBER), 1_000),
        iso=None if iso is None or not 0 < iso <= 10_000_000 else round(iso),
        orientation=None if orientation not in (1, 2, 3, 4, 5, 6, 7, 8) else round(orientation or 0),
        **_location(gps, problems),
        problems=tuple(problems),
    )


def read_facts(img: Image.Image) -> PhotoFacts:
    """The facts in an opened picture's EXIF (none when it has no EXIF)."""
    try:
        exif = img.getexif()
    except Exception as exc:  # a block Pillow cannot parse at all
        return PhotoFacts(problems=(f"corrupt EXIF block: {type(exc).__name__}: {str(exc)[:200]}",))
    if not exif and not img.info.get("exif"):
        return PhotoFacts()
    return facts_from_exif(exif)


def facts_from_tiff(data: bytes) -> PhotoFacts:
    """The facts of a TIFF structure given whole (the IFDs of a RAW file), or none."""
    exif = Image.Exif()
    try:
        exif.load(data)
    except Exception as exc:
        return PhotoFacts(problems=(f"corrupt EXIF block: {type(exc).__name__}: {str(exc)[:200]}",))
    return facts_from_exif(exif)


def capture_time(exif: Image.Exif) -> datetime | None:
    """EXIF DateTimeOriginal (else DateTime), as a UTC-labelled time; None when absent or malformed."""
    try:
        raw = exif.get_ifd(EXIF_IFD).get(DATETIME_ORIGINAL) or exif.get(DATETIME)
    except Exception:  # EXIF blocks in the wild are often malformed; the date is optional.
        return None
    if not isinstance(raw, str):
        return None
    try:
        return datetime.strptime(raw.strip("\x00 "), "%Y:%m:%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
