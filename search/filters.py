"""Filters on catalog fields, as SQL conditions that work on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from pixseek.core.errors import InvalidRequest
from pixseek.core.globs import key_matches
from pixseek.core.limits import MAX_GLOB_LENGTH
from pixseek.index.catalog.exif import ImageExif
from pixseek.index.catalog.images import MAX_ID, SEARCHABLE, VIDEO, Image
from pixseek.index.catalog.selections import Selection, SelectionMember
from pixseek.index.catalog.tags import ImageTag
from pixseek.index.catalog.vocabulary import check_tag_name
from pixseek.media.formats import RAW_FORMATS, ImageFormat
from pixseek.media.places import EARTH_KM, chord_for_km, unit_vector
from pixseek.search.limits import MAX_NAME, MAX_TAG_FILTERS, MAX_VALUE_FILTERS, VALUE_NAME


@dataclass(frozen=True)
class Filters:
    """Restrict results to images whose catalog row matches every field given.

    Ranges are inclusive; a bound left as None is open. Times compare in UTC (naive
    datetimes are taken as UTC). `captured_*` use the EXIF capture time, so images
    without one never match a capture-time filter.
    """

    bucket: str | None = None
    key_prefix: str | None = None
    key_glob: str | None = None  # `*` and `?` stay within a folder, `**` crosses folders
    formats: tuple[ImageFormat, ...] = ()  # PIL names, pixseek.media.formats.FORMATS
    min_width: int | None = None
    max_width: int | None = None
    min_height: int | None = None
    max_height: int | None = None
    min_size: int | None = None  # file size in bytes
    max_size: int | None = None
    ingested_after: datetime | None = None  # when the file was first cataloged
    ingested_before: datetime | None = None
    captured_after: datetime | None = None  # EXIF DateTimeOriginal
    captured_before: datetime | None = None
    tags: tuple[str, ...] = ()  # carries every one of these zero-shot tags
    no_tags: tuple[str, ...] = ()  # carries none of these
    # EXIF (index/catalog/exif.py); each list matches any of its values, case-insensitively.
    cameras: tuple[str, ...] = ()  # "Canon EOS R5", as `image_exif.camera` says it
    lenses: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()  # a country's name or ISO code ("Portugal", "PT")
    cities: tuple[str, ...] = ()  # the place the position names ("Lisbon")
    near: tuple[float, float, float] | None = None  # (latitude, longitude, km): taken within km of it
    bbox: tuple[float, float, float, float] | None = None  # (south, west, north, east) degrees
    has_location: bool | None = None  # True: with a GPS position; False: without one
    selection: str | None = None  # only images of this saved selection (index/catalog/selections.py)
    # Videos (issue 27): "image" (pictures only) or "video" (moments of videos only); the
    # video's length in seconds.
    media: str | None = None
    min_duration: float | None = None
    max_duration: float | None = None

    @property
    def active(self) -> bool:
        return any(getattr(self, f.name) not in (None, "", ()) for f in fields(self))

    def check(self) -> None:
        """Raise InvalidRequest for a filter no schema allows (too long, too many, off the earth).

        Filters that merely contradict each other (a range whose low end is above its high
        end, a tag both required and excluded, a box whose south is above its north) are
        not errors: they match nothing, as their SQL does.
        """
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int) and not isinstance(value, bool) and not -MAX_ID <= value <= MAX_ID:
                raise InvalidRequest(f"filter {f.name} is out of range")
        if self.media not in (None, "image", "video"):
            raise InvalidRequest("filter media is `image` or `video`")
        for name in ("min_duration", "max_duration"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1e7:
                raise InvalidRequest(f"filter {name} is seconds, between 0 and 10,000,000")
        if self.key_glob is not None and not self.key_glob:
            raise InvalidRequest("filter key_glob is empty")
        if self.key_glob is not None and len(self.key_glob) > MAX_GLOB_LENGTH:
            raise InvalidRequest(f"filter key_glob is longer than {MAX_GLOB_LENGTH} characters")
        if max(len(self.tags), len(self.no_tags)) > MAX_TAG_FILTERS:
            raise InvalidRequest(f"at most {MAX_TAG_FILTERS} tags and {MAX_TAG_FILTERS} excluded tags")
        for name in (*self.tags, *self.no_tags):
            check_tag_name(name)
        lists = (self.cameras, self.lenses, self.countries, self.cities)
        if max(len(values) for values in lists) > MAX_VALUE_FILTERS:
            raise InvalidRequest(f"at most {MAX_VALUE_FILTERS} cameras, lenses, countries and cities each")
        if any(not VALUE_NAME.search(name) or len(name) > MAX_NAME for values in lists for name in values):
            raise InvalidRequest(
                f"camera, lens, country and city filters are 1 to {MAX_NAME} characters, not blank, "
                "without control characters"
            )
        if self.near is not None:
            lat, lon, km = self.near
            _check_point(lat, lon, "near")
            if not 0 < km <= EARTH_KM * 3.2:
                raise InvalidRequest("filter near: the radius must be above 0 and at most 20,000 km")
        if self.bbox is not None:
            south, west, north, east = self.bbox
            _check_point(south, west, "bbox")
            _check_point(north, east, "bbox")


def _glob_prefix(pattern: str) -> str:
    """The literal start of a glob, before its first wildcard (lets SQL narrow first)."""
    cut = len(pattern)
    for wildcard in "*?[":
        pos = pattern.find(wildcard)
        if pos != -1:
            cut = min(cut, pos)
    return pattern[:cut]


def conditions(filters: Filters | None, models: Sequence[str] | None = None) -> list[ColumnElement[bool]]:
    """SQL conditions on `Image` for searchable images that pass `filters`.

    Args:
        filters: the user's filters (None: no restriction beyond searchability).
        models: only images embedded by one of these model ids (`arch/pretrained`), when
            given (`serving_model_keys`: the served model, and around a switch its pair).
    """
    out: list[ColumnElement[bool]] = [Image.status.in_(list(SEARCHABLE))]
    if models is not None:
        out.append(Image.model.in_(list(models)))
    if filters is None or not any(f.upper() in RAW_FORMATS for f in filters.formats):
        # A RAW file with a JPEG twin is shown as the twin (asked for by format, as itself).
        out.append(or_(Image.format.is_(None), ~shown_through_twin()))
    if filters is None:
        return out
    filters.check()
    if filters.bucket:
        out.append(Image.bucket == filters.bucket)
    if filters.key_prefix:
        out.extend(_starts_with(filters.key_prefix))
    if filters.key_glob:
        prefix = _glob_prefix(filters.key_glob)
        if prefix:
            out.extend(_starts_with(prefix))
        out.append(key_matches(Image.key, filters.key_glob))
    if filters.formats:
        out.append(func.upper(Image.format).in_([f.upper() for f in filters.formats]))
    if filters.media == "video":
        out.append(Image.media == VIDEO)
    elif filters.media == "image":
        out.append(Image.media.is_(None))
    ranges: Sequence[tuple[Any, Any, Any]] = (
        (Image.width, filters.min_width, filters.max_width),
        (Image.height, filters.min_height, filters.max_height),
        (Image.size, filters.min_size, filters.max_size),
        (Image.created_at, filters.ingested_after, filters.ingested_before),
        (Image.captured_at, filters.captured_after, filters.captured_before),
        (Image.duration_s, filters.min_duration, filters.max_duration),
    )
    for tag in dict.fromkeys(filters.tags):
        out.append(Image.id.in_(select(ImageTag.image_id).where(ImageTag.tag == tag)))
    if filters.no_tags:
        excluded = select(ImageTag.image_id).where(ImageTag.tag.in_(list(dict.fromkeys(filters.no_tags))))
        out.append(Image.id.not_in(excluded))
    for column, low, high in ranges:
        if low is not None:
            out.append(column >= _utc(low))
        if high is not None:
            out.append(column <= _utc(high))
    if exif := _exif_conditions(filters):
        out.append(Image.id.in_(select(ImageExif.image_id).where(*exif)))
    if filters.selection:
        chosen = (
            select(SelectionMember.image_id)
            .join(Selection, Selection.id == SelectionMember.selection_id)
            .where(Selection.name == filters.selection)
        )
        out.append(Image.id.in_(chosen))
    if filters.has_location is False:
        located = select(ImageExif.image_id).where(ImageExif.latitude.is_not(None))
        out.append(Image.id.not_in(located))
    return out


def _check_point(lat: float, lon: float, name: str) -> None:
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidRequest(f"filter {name}: latitude is -90 to 90 and longitude -180 to 180 degrees")


def _any_of(column: Any, values: tuple[str, ...]) -> ColumnElement[bool]:
    return func.lower(column).in_(sorted({v.strip().lower() for v in values}))


def _exif_conditions(filters: Filters) -> list[ColumnElement[bool]]:
    """Conditions on `ImageExif` for the EXIF filters given (none: no EXIF filter)."""
    out: list[ColumnElement[bool]] = []
    if filters.cameras:
        out.append(_any_of(ImageExif.camera, filters.cameras))
    if filters.lenses:
        out.append(_any_of(ImageExif.lens, filters.lenses))
    if filters.countries:
        out.append(
            or_(
                _any_of(ImageExif.country, filters.countries),
                _any_of(ImageExif.country_code, filters.countries),
            )
        )
    if filters.cities:
        out.append(_any_of(ImageExif.city, filters.cities))
    if filters.has_location:
        out.append(ImageExif.latitude.is_not(None))
    if filters.near is not None:
        lat, lon, km = filters.near
        # The latitude band first (indexed), then the exact test: chord length on the unit sphere.
        band = km / EARTH_KM * 180 / 3.141592653589793
        x, y, z = unit_vector(lat, lon)
        chord = chord_for_km(km)
        out.extend(
            [
                ImageExif.latitude.between(lat - band, lat + band),
                (ImageExif.geo_x - x) * (ImageExif.geo_x - x)
                + (ImageExif.geo_y - y) * (ImageExif.geo_y - y)
                + (ImageExif.geo_z - z) * (ImageExif.geo_z - z)
                <= chord * chord,
            ]
        )
    if filters.bbox is not None:
        south, west, north, east = filters.bbox
        out.append(ImageExif.latitude.between(south, north))
        if west <= east:
            out.append(ImageExif.longitude.between(west, east))
        else:  # the box crosses the antimeridian
            out.append(or_(ImageExif.longitude >= west, ImageExif.longitude <= east))
    return out


def shown_through_twin() -> ColumnElement[bool]:
    """True for a RAW file shown through its twin: a searchable image of another format with
    the same folder and name (`image_exif.twin_key`) and the same capture time.

    Correlated, and only looked up for RAW rows: every other row passes on its format.
    """
    raw, other = aliased(ImageExif), aliased(ImageExif)
    other_image = aliased(Image)
    twin = (
        select(other.image_id)
        .join(raw, and_(raw.twin_key == other.twin_key, raw.image_id != other.image_id))
        .join(other_image, other_image.id == other.image_id)
        .where(
            raw.image_id == Image.id,
            other_image.format.not_in(sorted(RAW_FORMATS)),
            other_image.status.in_(list(SEARCHABLE)),
            other_image.captured_at == Image.captured_at,
        )
        .exists()
    )
    return and_(Image.format.in_(sorted(RAW_FORMATS)), Image.captured_at.is_not(None), twin)


def _starts_with(prefix: str) -> list[ColumnElement[bool]]:
    # LIKE narrows (and is case-insensitive on SQLite); the substring test makes it exact.
    return [
        Image.key.startswith(prefix, autoescape=True),
        func.substr(Image.key, 1, len(prefix)) == prefix,
    ]


def _utc(value: object) -> object:
    """Datetimes in UTC: SQLite compares stored times as text, so every bound must be UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value
