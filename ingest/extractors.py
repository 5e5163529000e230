"""Per-image extras computed beside the embedding (hashes, sidecar text, ...).

An extractor runs on the decode threads with the file's bytes and decoded picture, and
stores its value in the same transaction that records the image. Features that need more
than the CLS and patch vectors plug in here instead of editing the ingest loop.

Each runs in one of two stages (its `stage` attribute): `ingest`, in the pass that makes an
image searchable (what search itself needs: keywords), or `enrich`, in the enrich job that
follows it (thumbnails, duplicate signatures: ingest/enrich.py). With
`PIXSEEK_SEARCHABLE_FIRST=false` both run in the ingest pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sqlalchemy.orm import Session

from pixseek.core.settings import Settings
from pixseek.ingest.exif import exif_extractor
from pixseek.ingest.hashes import signature_extractor
from pixseek.ingest.keywords import keyword_extractor
from pixseek.ingest.thumbnailing import thumbnail_extractor
from pixseek.media.decode import Decoded
from pixseek.media.sources.base import BucketSource

INGEST, ENRICH = "ingest", "enrich"


class Extractor(Protocol):
    name: str

    def extract(self, source: BucketSource, key: str, data: bytes, decoded: Decoded) -> Any:
        """Compute the value for one file (runs on a decode thread; must not touch SQL)."""

    def store(self, session: Session, image_id: int, value: Any) -> None:
        """Record the value of one image inside the ingest transaction."""

    def forget(self, session: Session, image_ids: Sequence[int]) -> None:
        """Drop what was stored for images that were deleted or failed."""


ExtractorFactory = Callable[[Settings], "Extractor | None"]

# Factories, not instances: an extractor may depend on settings. pixseek's own are listed
# here (no registration by import side effect, so no module imports this one back); a
# plugin or test adds its own with `register`.
_FACTORIES: list[ExtractorFactory] = []


def register(factory: ExtractorFactory) -> ExtractorFactory:
    """Add an extractor factory (returning None disables it for those settings)."""
    _FACTORIES.append(factory)
    return factory


def stage_of(extractor: Extractor) -> str:
    """`ingest` or `enrich` (an extractor that does not say runs in the ingest pass)."""
    return str(getattr(extractor, "stage", INGEST))


def active_extractors(settings: Settings, stage: str | None = None) -> list[Extractor]:
    """The extractors these settings turn on, of one stage (`ingest`, `enrich`) or all."""
    builtin: list[ExtractorFactory] = [
        signature_extractor,
        keyword_extractor,
        thumbnail_extractor,
        exif_extractor,
    ]
    found = (factory(settings) for factory in [*builtin, *_FACTORIES])
    return [ex for ex in found if ex is not None and (stage is None or stage_of(ex) == stage)]


def ingest_pass_extractors(settings: Settings) -> list[Extractor]:
    """What the ingest pass runs: its own stage, and the enrich stage too without searchable-first."""
    return active_extractors(settings, INGEST if settings.searchable_first else None)


def decode_min_side(extractors: Sequence[Extractor]) -> int:
    """The shortest side JPEG draft decoding must keep for these extractors (0: no need).

    An extractor that needs more pixels than the model (thumbnails) says so in its
    `decode_min_side` attribute.
    """
    return max((int(getattr(ex, "decode_min_side", 0)) for ex in extractors), default=0)
