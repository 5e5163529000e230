"""The duplicates extractor: a perceptual signature of every image, stored beside its vector."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, or_
from sqlalchemy.orm import Session

from pixseek.core.settings import Settings
from pixseek.index.catalog.duplicates import DuplicatePair, ImageHash
from pixseek.media.decode import Decoded
from pixseek.media.perceptual_hash import Signature, signature
from pixseek.media.sources.base import BucketSource


class SignatureExtractor:
    name = "duplicates.signature"
    stage = "enrich"  # only duplicate detection reads it (ingest/extractors.py)

    def extract(self, source: BucketSource, key: str, data: bytes, decoded: Decoded) -> Signature:
        return signature(decoded.image)

    def store(self, session: Session, image_id: int, value: Signature) -> None:
        # New or changed content: its old matches go, and the next detection run compares it again.
        session.execute(
            delete(DuplicatePair).where(
                or_(DuplicatePair.image_a == image_id, DuplicatePair.image_b == image_id)
            )
        )
        session.merge(ImageHash.fresh(image_id, value))

    def forget(self, session: Session, image_ids: Sequence[int]) -> None:
        ids = list(image_ids)
        session.execute(
            delete(DuplicatePair).where(or_(DuplicatePair.image_a.in_(ids), DuplicatePair.image_b.in_(ids)))
        )
        session.execute(delete(ImageHash).where(ImageHash.image_id.in_(ids)))


def signature_extractor(settings: Settings) -> SignatureExtractor:
    return SignatureExtractor()
