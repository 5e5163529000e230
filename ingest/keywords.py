"""The keyword extractor: each image's name, folders and sidecar caption for keyword search.

A caption is the text of a sidecar file beside the image: `photo.txt` or `photo.caption`
for `photo.jpg` (both, when both exist; the suffixes are `PIXSEEK_SIDECAR_SUFFIXES`).
Sidecars are read through the bucket source, so they work wherever images do. An image
whose sidecar changed while the image did not is not re-read until the image changes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.orm import Session

from pixseek.core.settings import Settings
from pixseek.index.catalog.keywords import forget_documents, put_document
from pixseek.index.catalog.ocr import forget_ocr
from pixseek.index.catalog.tokenize import TextDocument, document_for
from pixseek.media.decode import Decoded
from pixseek.media.sources.base import BucketSource, SourceError

log = logging.getLogger(__name__)

MAX_SIDECAR_BYTES = 64 * 1024


def sidecar_keys(key: str, suffixes: Sequence[str]) -> list[str]:
    """The keys a caption for `key` may live under."""
    folder, slash, name = key.rpartition("/")
    stem = name.rpartition(".")[0] if "." in name else name
    return [f"{folder}{slash}{stem}{suffix}" for suffix in suffixes if f"{stem}{suffix}" != name]


def read_caption(source: BucketSource, key: str, suffixes: Sequence[str]) -> str | None:
    """The text of the image's sidecar files, or None when there are none."""
    texts: list[str] = []
    for sidecar in sidecar_keys(key, suffixes):
        try:
            data = source.read(sidecar, MAX_SIDECAR_BYTES)
        except SourceError:
            continue  # no sidecar (the usual case), or one too large to be a caption
        text = data.decode("utf-8", errors="replace").strip()
        if text:
            texts.append(text)
    return "\n".join(texts) or None


class KeywordExtractor:
    """Builds the keyword document of each image at ingest."""

    name = "keywords"

    def __init__(self, sidecar_suffixes: Sequence[str]) -> None:
        self.sidecar_suffixes = tuple(sidecar_suffixes)

    def extract(self, source: BucketSource, key: str, data: bytes, decoded: Decoded) -> TextDocument:
        caption = read_caption(source, key, self.sidecar_suffixes) if self.sidecar_suffixes else None
        return document_for(key, caption)

    def store(self, session: Session, image_id: int, value: TextDocument) -> None:
        put_document(session, image_id, value)

    def forget(self, session: Session, image_ids: Sequence[int]) -> None:
        forget_documents(session, image_ids)
        forget_ocr(session, image_ids)  # read again if the file comes back


def keyword_extractor(settings: Settings) -> KeywordExtractor:
    return KeywordExtractor(settings.sidecar_suffixes)
