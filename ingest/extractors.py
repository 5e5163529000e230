"""Per-image extras computed beside the embedding (hashes, sidecar text, ...).

An extractor runs on the decode threads with the file's bytes and decoded picture, and
stores its value in the same transaction that records the image. Features that need more
than the CLS and patch vectors plug in here instead of editing the ingest loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sqlalchemy.orm import Session

from pixseek.core.settings import Settings
from pixseek.media.decode import Decoded
from pixseek.media.sources.base import BucketSource


class Extractor(Protocol):
    name: str

    def extract(self, source: BucketSource, key: str, data: bytes, decoded: Decoded) -> Any:
        """Compute the value for one file (runs on a decode thread; must not touch SQL)."""

    def store(self, session: Session, image_id: int, value: Any) -> None:
        """Record the value of one image inside the ingest transaction."""

    def forget(self, session: Session, image_ids: Sequence[int]) -> None:
        """Drop what was stored for images that were deleted or failed."""


# Factories, not instances: an extractor may depend on settings.
_FACTORIES: list[Callable[[Settings], Extractor | None]] = []


def register(factory: Callable[[Settings], Extractor | None]) -> Callable[[Settings], Extractor | None]:
    """Add an extractor factory (returning None disables it for those settings)."""
    _FACTORIES.append(factory)
    return factory


def active_extractors(settings: Settings) -> list[Extractor]:
    _load_builtin()
    found = (factory(settings) for factory in _FACTORIES)
    return [extractor for extractor in found if extractor is not None]


def _load_builtin() -> None:
    """Import the modules that register pixseek's own extractors."""
    # Each feature adds its module here; importing registers it once.
    import pixseek.ingest.hashes
    import pixseek.ingest.keywords
    import pixseek.ingest.thumbnails  # noqa: F401


def decode_min_side(extractors: Sequence[Extractor]) -> int:
    """The shortest side JPEG draft decoding must keep for these extractors (0: no need).

    An extractor that needs more pixels than the model (thumbnails) says so in its
    `decode_min_side` attribute.
    """
    return max((int(getattr(ex, "decode_min_side", 0)) for ex in extractors), default=0)
