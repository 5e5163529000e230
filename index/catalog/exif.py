"""How and where each photo was taken: camera, lens, exposure, position and place, from its EXIF.

`image_exif` holds one row per image ingest has read (from version 0014 on), even one
without EXIF (all NULL), so that what could not be read is recorded (`problems`). The
position is kept twice: as degrees (shown, boxes) and as a point on the unit sphere
(`geo_x`, `geo_y`, `geo_z`), so "within R km" is plain arithmetic in SQL on SQLite and
PostgreSQL alike (chord length, `pixseek.media.places`). `twin_key` is the file's
bucket and key without its extension, lower-cased: a RAW file and its JPEG twin share it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, and_, delete, func, select
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column

from pixseek.core.db import Base, UTCDateTime, in_chunks, utcnow
from pixseek.index.catalog.images import SEARCHABLE, IdType, Image
from pixseek.media.exif import PhotoFacts
from pixseek.media.places import Place, unit_vector


class ImageExif(Base):
    __tablename__ = "image_exif"
    __table_args__ = (
        Index("ix_image_exif_camera", "camera"),
        Index("ix_image_exif_lens", "lens"),
        Index("ix_image_exif_latitude", "latitude"),
        Index("ix_image_exif_country", "country"),
        Index("ix_image_exif_city", "city"),
        Index("ix_image_exif_twin_key", "twin_key"),
    )

    image_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    camera_make: Mapped[str | None] = mapped_column(String(120))
    camera_model: Mapped[str | None] = mapped_column(String(120))
    camera: Mapped[str | None] = mapped_column(String(240))  # "Canon EOS R5": make and model as said
    lens: Mapped[str | None] = mapped_column(String(240))
    focal_length: Mapped[float | None] = mapped_column(Float)  # mm
    focal_length_35mm: Mapped[int | None] = mapped_column(Integer)
    exposure_time: Mapped[float | None] = mapped_column(Float)  # seconds
    f_number: Mapped[float | None] = mapped_column(Float)
    iso: Mapped[int | None] = mapped_column(Integer)
    orientation: Mapped[int | None] = mapped_column(Integer)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    altitude: Mapped[float | None] = mapped_column(Float)
    geo_x: Mapped[float | None] = mapped_column(Float)
    geo_y: Mapped[float | None] = mapped_column(Float)
    geo_z: Mapped[float | None] = mapped_column(Float)
    country_code: Mapped[str | None] = mapped_column(String(2))
    country: Mapped[str | None] = mapped_column(String(120))
    city: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str | None] = mapped_column(String(200))
    twin_key: Mapped[str | None] = mapped_column(Text)
    problems: Mapped[str | None] = mapped_column(Text)  # what could not be read, "; "-joined
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


@dataclass(frozen=True)
class Shot:
    """What ingest records of one image: its EXIF facts and, when it has a position, its place."""

    facts: PhotoFacts
    place: Place | None
    twin_key: str


def twin_key(bucket: str, key: str) -> str:
    """The bucket and key without the extension, lower-cased: `IMG_0042.CR2` and `IMG_0042.JPG` share it."""
    stem, _ext = posixpath.splitext(key)
    return f"{len(bucket)}:{bucket}/{stem}".lower()  # the length keeps bucket and key apart


def put_exif(session: Session, image_id: int, shot: Shot) -> None:
    facts, place = shot.facts, shot.place
    xyz: tuple[float | None, ...] = (None, None, None)
    if facts.latitude is not None and facts.longitude is not None:
        xyz = unit_vector(facts.latitude, facts.longitude)
    session.merge(
        ImageExif(
            image_id=image_id,
            camera_make=facts.camera_make,
            camera_model=facts.camera_model,
            camera=facts.camera,
            lens=facts.lens,
            focal_length=facts.focal_length,
            focal_length_35mm=facts.focal_length_35mm,
            exposure_time=facts.exposure_time,
            f_number=facts.f_number,
            iso=facts.iso,
            orientation=facts.orientation,
            latitude=facts.latitude,
            longitude=facts.longitude,
            altitude=facts.altitude,
            geo_x=xyz[0],
            geo_y=xyz[1],
            geo_z=xyz[2],
            country_code=place.country_code if place else None,
            country=place.country if place else None,
            city=place.city if place else None,
            state=place.state if place else None,
            twin_key=shot.twin_key,
            problems="; ".join(facts.problems) or None,
        )
    )


def forget_exif(session: Session, image_ids: Sequence[int]) -> None:
    for part in in_chunks(list(image_ids)):
        session.execute(delete(ImageExif).where(ImageExif.image_id.in_(part)))


def get_exif(session: Session, image_id: int) -> ImageExif | None:
    return session.get(ImageExif, image_id)


# The facets counted beside tags: facet name -> column.
FACET_COLUMNS = {
    "cameras": ImageExif.camera,
    "lenses": ImageExif.lens,
    "countries": ImageExif.country,
    "cities": ImageExif.city,
}


def exif_counts(
    session: Session, ids: sa.Select[Any] | Sequence[int], limit: int
) -> dict[str, dict[str, int]]:
    """How many of the given images have each camera, lens, country and city: the `limit` most each."""
    out: dict[str, dict[str, int]] = {}
    for facet, column in FACET_COLUMNS.items():
        count = func.count().label("n")
        totals: dict[str, int] = {}
        parts: list[Any] = (
            [ids.scalar_subquery()] if isinstance(ids, sa.Select) else list(in_chunks(list(ids)))
        )
        for part in parts:
            stmt = (
                select(column, count)
                .where(ImageExif.image_id.in_(part), column.is_not(None))
                .group_by(column)
            )
            for value, n in session.execute(stmt).all():
                totals[str(value)] = totals.get(str(value), 0) + int(n)
        out[facet] = dict(sorted(totals.items(), key=lambda t: (-t[1], t[0]))[:limit])
    return out


def twins_of(session: Session, image_id: int) -> list[Image]:
    """The same shot in other files: searchable images with the same folder and name and the
    same capture time (a RAW and its JPEG)."""
    mine = aliased(ImageExif)
    me = aliased(Image)
    stmt = (
        select(Image)
        .join(ImageExif, ImageExif.image_id == Image.id)
        .join(mine, and_(mine.twin_key == ImageExif.twin_key, mine.image_id == image_id))
        .join(me, me.id == mine.image_id)
        .where(
            Image.id != image_id,
            Image.status.in_(list(SEARCHABLE)),
            me.captured_at.is_not(None),
            Image.captured_at == me.captured_at,
        )
        .order_by(Image.id)
    )
    return list(session.scalars(stmt))


def twin_pairs(session: Session) -> list[tuple[int, int]]:
    """(RAW image, its twin) for every searchable RAW file with a twin of another format."""
    from pixseek.media.formats import RAW_FORMATS

    raw, other = aliased(ImageExif), aliased(ImageExif)
    raw_image, other_image = aliased(Image), aliased(Image)
    rows = session.execute(
        select(raw.image_id, other.image_id)
        .join(raw_image, raw_image.id == raw.image_id)
        .join(other, and_(other.twin_key == raw.twin_key, other.image_id != raw.image_id))
        .join(other_image, other_image.id == other.image_id)
        .where(
            raw_image.format.in_(sorted(RAW_FORMATS)),
            other_image.format.not_in(sorted(RAW_FORMATS)),
            raw_image.status.in_(list(SEARCHABLE)),
            other_image.status.in_(list(SEARCHABLE)),
            raw_image.captured_at.is_not(None),
            raw_image.captured_at == other_image.captured_at,
        )
    ).all()
    return [(int(r), int(o)) for r, o in rows]
