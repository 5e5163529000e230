"""Perceptual signatures for cataloged images that have none, read back from their buckets.

Ingest computes the signature of every new or changed file (`hashes.py`). Images indexed
before duplicate detection existed, or under an older signature `VERSION`, have none; a
detection job runs this first, as its own step, so that detection only reads the catalog.

No transaction is open while files are read. Each chunk's signatures are committed
together with the job's count of them, so a run that is interrupted keeps what it did and
the next run (a redelivered task) does only what is still missing.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pixseek.core.db import session_scope
from pixseek.core.errors import PixseekError
from pixseek.core.settings import Settings
from pixseek.index.catalog.duplicates import ImageHash
from pixseek.index.catalog.images import SEARCHABLE, Image
from pixseek.index.catalog.jobs import add_to_summary, claim_job
from pixseek.ingest.hashes import SignatureExtractor
from pixseek.media.decode import DecodeError, decode_image
from pixseek.media.perceptual_hash import VERSION, Signature, signature
from pixseek.media.sources import BucketSource, SourceError, open_source

log = logging.getLogger(__name__)

BACKFILL_TASK = "pixseek.ingest.backfill_signatures"
# Images read between commits: small enough that an interruption loses little work.
CHUNK = 64


def _lacking(session: Session, image_ids: list[int] | None = None) -> list[tuple[int, str, str]]:
    """(id, bucket, key) of searchable images without a current signature, in id order."""
    stmt = (
        select(Image.id, Image.bucket, Image.key)
        .outerjoin(ImageHash, ImageHash.image_id == Image.id)
        .where(
            Image.status.in_(list(SEARCHABLE)),
            or_(ImageHash.image_id.is_(None), ImageHash.version != VERSION),
        )
        .order_by(Image.id)
    )
    if image_ids is not None:
        stmt = stmt.where(Image.id.in_(image_ids))
    return [(int(i), str(b), str(k)) for i, b, k in session.execute(stmt)]


def _compute(settings: Settings, source: BucketSource, key: str) -> Signature | None:
    try:
        data = source.read(key, settings.max_file_bytes)
        decoded = decode_image(data, max_pixels=settings.max_image_pixels, draft_size=256)
    except (SourceError, DecodeError) as exc:
        log.warning("ingest.signature_failed key=%s reason=%s", key, exc)
        return None
    return signature(decoded.image)


def _store(settings: Settings, computed: dict[int, Signature], job_id: str | None) -> int:
    store = SignatureExtractor().store
    with session_scope(settings) as session:
        # An ingest may have re-read some of these files meanwhile; its signature is newer.
        still = {image_id for image_id, _, _ in _lacking(session, list(computed))}
        for image_id in sorted(still):
            store(session, image_id, computed[image_id])
        if job_id is not None and still:
            add_to_summary(session, job_id, backfilled=len(still))
    return len(still)


def backfill_signatures(settings: Settings, *, job_id: str | None = None) -> int:
    """Compute and store the signature of every searchable image that lacks one.

    Unreadable files and buckets are logged and left without one (detection skips them).
    With `job_id`, the job is marked running and its summary counts `backfilled`; a job
    already done is left alone. Returns the number of signatures stored.
    """
    with session_scope(settings) as session:
        if job_id is not None and claim_job(session, job_id) is None:
            return 0
        lacking = _lacking(session)
    by_bucket: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for image_id, bucket, key in lacking:
        by_bucket[bucket].append((image_id, key))
    stored = 0
    for bucket, items in by_bucket.items():
        try:
            source = open_source(bucket, settings)
        except PixseekError as exc:
            log.warning("ingest.signatures_skipped bucket=%s reason=%s", bucket, exc.detail)
            continue
        for start in range(0, len(items), CHUNK):
            chunk = items[start : start + CHUNK]
            computed = {}
            for image_id, key in chunk:
                sig = _compute(settings, source, key)
                if sig is not None:
                    computed[image_id] = sig
            if computed:
                stored += _store(settings, computed, job_id)
    log.info("ingest.signatures_backfilled job=%s images=%d stored=%d", job_id, len(lacking), stored)
    return stored
