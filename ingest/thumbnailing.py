"""The thumbnails extractor (WebP copies made from the picture ingest already decoded) and
the backfill that gives images cataloged before thumbnails existed theirs."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pixseek.core.db import session_scope
from pixseek.core.errors import PixseekError
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import SEARCHABLE, Image
from pixseek.index.catalog.thumbnails import Thumbnail, ThumbnailStore, forget_thumbnails, record_thumbnails
from pixseek.media.decode import Decoded, DecodeError, decode_image
from pixseek.media.sources import BucketSource, SourceError, open_source
from pixseek.media.thumbnailer import VERSION, Thumb, make_thumbnails

log = logging.getLogger(__name__)

CHUNK = 64  # images read between commits in a backfill


def decode_side(sizes: Sequence[int]) -> int:
    """The shortest side a JPEG draft decode must keep for the largest thumbnail of a 3:2 picture."""
    return (2 * max(sizes) + 2) // 3 if sizes else 0


class ThumbnailExtractor:
    name = "thumbnails"
    # After the ingest pass: until then the web UI makes a missing thumbnail when it is asked
    # for (api/routes/images.py), and search does not wait for WebP encoding.
    stage = "enrich"

    def __init__(self, settings: Settings, sizes: Sequence[int] | None = None) -> None:
        self.sizes = tuple(settings.thumbnail_ingest_sizes if sizes is None else sizes)
        self.store_files = ThumbnailStore(settings.thumbnail_dir)
        # Read by `ingest.pipeline.prepare_file`: JPEG draft decoding keeps at least this.
        self.decode_min_side = decode_side(self.sizes)

    def extract(self, source: BucketSource, key: str, data: bytes, decoded: Decoded) -> list[Thumb]:
        return make_thumbnails(decoded.image, self.sizes)

    def store(self, session: Session, image_id: int, value: list[Thumb]) -> None:
        image = session.get(Image, image_id)  # in the session already: the ingest locked it
        if image is None or image.sha256 is None:
            return
        record_thumbnails(session, self.store_files, image_id, image.sha256, value)

    def forget(self, session: Session, image_ids: Sequence[int]) -> None:
        forget_thumbnails(session, self.store_files, image_ids)


def thumbnail_extractor(settings: Settings) -> ThumbnailExtractor | None:
    return ThumbnailExtractor(settings) if settings.thumbnail_ingest_sizes else None


def _lacking(
    session: Session, sizes: Sequence[int], image_ids: Sequence[int] | None = None
) -> list[tuple[int, str, str]]:
    """(id, bucket, key) of searchable images without a current thumbnail of every size, by id."""
    have = (
        select(Thumbnail.image_id)
        .where(
            Thumbnail.size.in_(list(sizes)),
            Thumbnail.version == VERSION,
            Thumbnail.sha256 == Image.sha256,
        )
        .group_by(Thumbnail.image_id)
        .having(func.count() == len(set(sizes)))
    )
    stmt = (
        select(Image.id, Image.bucket, Image.key)
        .where(Image.status.in_(list(SEARCHABLE)), Image.id.not_in(have))
        .order_by(Image.id)
    )
    if image_ids is not None:
        stmt = stmt.where(Image.id.in_(list(image_ids)))
    return [(int(i), str(b), str(k)) for i, b, k in session.execute(stmt)]


def lacking_thumbnails(
    session: Session, sizes: Sequence[int], image_ids: Sequence[int] | None = None
) -> list[int]:
    """Searchable images without a current thumbnail of each of `sizes`, in id order."""
    return [image_id for image_id, _, _ in _lacking(session, sizes, image_ids)]


def _thumbs_of(
    settings: Settings, source: BucketSource, key: str, sizes: Sequence[int]
) -> list[Thumb] | None:
    try:
        data = source.read(key, settings.max_file_bytes)
        decoded = decode_image(data, max_pixels=settings.max_image_pixels, draft_size=decode_side(sizes))
    except (SourceError, DecodeError) as exc:
        log.warning("ingest.thumbnail_failed key=%s reason=%s", key, exc)
        return None
    return make_thumbnails(decoded.image, sizes)


def backfill_thumbnails(
    settings: Settings, image_ids: Sequence[int] | None = None, sizes: Sequence[int] | None = None
) -> int:
    """Make the missing thumbnails of searchable images (all, or those of `image_ids`), of
    `sizes` (default: those ingest makes, `PIXSEEK_THUMBNAIL_INGEST_SIZES`).

    Files are read again from their buckets with no transaction open; each chunk is
    committed on its own, so an interrupted run keeps what it did. Unreadable files are
    logged and left without. Returns the number of images given thumbnails.
    """
    wanted = sorted(set(settings.thumbnail_ingest_sizes if sizes is None else sizes))
    if not wanted:
        return 0
    with session_scope(settings) as session:
        lacking = _lacking(session, wanted, image_ids)
    by_bucket: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for image_id, bucket, key in lacking:
        by_bucket[bucket].append((image_id, key))
    store = ThumbnailStore(settings.thumbnail_dir)
    done = 0
    for bucket, items in by_bucket.items():
        try:
            source = open_source(bucket, settings)
        except PixseekError as exc:
            log.warning("ingest.thumbnails_skipped bucket=%s reason=%s", bucket, exc.detail)
            continue
        for start in range(0, len(items), CHUNK):
            made = {}
            for image_id, key in items[start : start + CHUNK]:
                thumbs = _thumbs_of(settings, source, key, wanted)
                if thumbs is not None:
                    made[image_id] = thumbs
            done += _store(settings, store, made, wanted)
    if image_ids is None:
        log.info("ingest.thumbnails_backfilled images=%d made=%d", len(lacking), done)
    return done


def _store(settings: Settings, store: ThumbnailStore, made: dict[int, list[Thumb]], sizes: list[int]) -> int:
    if not made:
        return 0
    with session_scope(settings) as session:
        # An ingest may have re-read some of these files meanwhile: its thumbnails are newer.
        still = set(lacking_thumbnails(session, sizes, list(made)))
        shas = dict(session.execute(select(Image.id, Image.sha256).where(Image.id.in_(still))).tuples().all())
        for image_id in sorted(still):
            sha = shas.get(image_id)
            if sha is not None:
                record_thumbnails(session, store, image_id, sha, made[image_id])
    return len(still)
