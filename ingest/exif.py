"""The EXIF extractor: camera, lens, exposure and position of each image, and the place it names.

Decoding already read the EXIF (`Decoded.facts`, `pixseek/media/exif.py`); here a position
gets its place from the offline gazetteer (`pixseek/media/places.py`, loaded once per
process on the first photo with a position) and both go to `image_exif` in the ingest
transaction. A photo without EXIF gets a row of NULLs; what could not be read (a corrupt
block, a position out of range) is kept in the row's `problems` and logged, and the image
is ingested as usual.

`backfill_exif` gives images cataloged before pixseek read EXIF (migration 0014) their
row: each file is read again and opened, not decoded (RAW files: their TIFF directories).
"""

from __future__ import annotations

import io
import logging
from collections import defaultdict
from collections.abc import Sequence

from PIL import Image as PILImage
from sqlalchemy import select
from sqlalchemy.orm import Session

from pixseek.core.db import session_scope
from pixseek.core.errors import PixseekError
from pixseek.core.settings import Settings
from pixseek.index.catalog.exif import ImageExif, Shot, forget_exif, put_exif, twin_key
from pixseek.index.catalog.images import SEARCHABLE, Image
from pixseek.media.decode import SNIFF_BYTES, Decoded, sniff
from pixseek.media.exif import PhotoFacts, read_facts
from pixseek.media.formats import RAW_FORMATS
from pixseek.media.places import gazetteer
from pixseek.media.raw import raw_facts, tiff_raw_format
from pixseek.media.sources.base import BucketSource, SourceError
from pixseek.media.sources.registry import open_source

log = logging.getLogger(__name__)

CHUNK = 64


def shot_of(bucket: str, key: str, facts: PhotoFacts) -> Shot:
    """What to record of one image: its facts, the place its position names, its twin key."""
    place = None
    if facts.latitude is not None and facts.longitude is not None:
        place = gazetteer().place(facts.latitude, facts.longitude)
    if facts.problems:
        log.info("ingest.exif_problems key=%s problems=%s", key, "; ".join(facts.problems))
    return Shot(facts, place, twin_key(bucket, key))


class ExifExtractor:
    """Records `Decoded.facts` and their place in `image_exif`."""

    name = "exif"

    def extract(self, source: BucketSource, key: str, data: bytes, decoded: Decoded) -> Shot:
        return shot_of(source.bucket, key, decoded.facts)

    def store(self, session: Session, image_id: int, value: Shot) -> None:
        put_exif(session, image_id, value)

    def forget(self, session: Session, image_ids: Sequence[int]) -> None:
        forget_exif(session, image_ids)


def exif_extractor(settings: Settings) -> ExifExtractor:
    return ExifExtractor()


def facts_of_file(data: bytes) -> PhotoFacts:
    """The EXIF facts of a file's bytes, without decoding its pixels."""
    fmt = sniff(data[:SNIFF_BYTES])
    raw = (fmt, True) if fmt in RAW_FORMATS else tiff_raw_format(data) if fmt == "TIFF" else None
    if fmt is not None and raw is not None:
        return raw_facts(data, raw[0])[0]
    try:
        with PILImage.open(io.BytesIO(data)) as img:
            return read_facts(img)
    except Exception as exc:  # not an image Pillow opens: ingest recorded why
        return PhotoFacts(problems=(f"cannot read EXIF: {type(exc).__name__}",))


def backfill_exif(settings: Settings) -> int:
    """Read the EXIF of searchable images that have no `image_exif` row; returns how many got one."""
    with session_scope(settings) as session:
        lacking = session.execute(
            select(Image.id, Image.bucket, Image.key)
            .outerjoin(ImageExif, ImageExif.image_id == Image.id)
            .where(Image.status.in_(list(SEARCHABLE)), ImageExif.image_id.is_(None))
            .order_by(Image.id)
        ).all()
    by_bucket: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for image_id, bucket, key in lacking:
        by_bucket[str(bucket)].append((int(image_id), str(key)))
    done = 0
    for bucket, items in by_bucket.items():
        try:
            source = open_source(bucket, settings)
        except PixseekError as exc:
            log.warning("ingest.exif_skipped bucket=%s reason=%s", bucket, exc.detail)
            continue
        for start in range(0, len(items), CHUNK):
            shots: dict[int, Shot] = {}
            for image_id, key in items[start : start + CHUNK]:
                try:
                    data = source.read(key, settings.max_file_bytes)
                except SourceError as exc:
                    log.info("ingest.exif_unread key=%s reason=%s", key, exc.detail)
                    continue
                shots[image_id] = shot_of(bucket, key, facts_of_file(data))
            with session_scope(settings) as session:
                for image_id, shot in shots.items():
                    put_exif(session, image_id, shot)
            done += len(shots)
    log.info("ingest.exif_backfilled images=%d", done)
    return done
