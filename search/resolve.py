"""Query parts to vectors: each part to a unit embedding, combined, plus what to leave out.

Texts go through the prompt templates and the text cache, uploads through the encoder
under the ingest limits, cataloged images are read back as their stored vectors.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from pixseek.core.errors import IndexNotReady, InvalidRequest, PayloadTooLarge
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image, ImageVector, get_searchable_image
from pixseek.media.decode import decode_image
from pixseek.model.encoder import get_encoder
from pixseek.model.identity import ModelId
from pixseek.model.preprocess import centre_draft_side
from pixseek.search.prompts import TextEmbedder
from pixseek.search.query import (
    Combined,
    ImageIdPart,
    ImagePart,
    Query,
    RegionPart,
    TextPart,
    combine,
    part_label,
)
from pixseek.search.region_query import region_vector


@dataclass
class Resolved:
    """A query's combined vector, its parts' labels, and the images its results leave out."""

    combined: Combined
    labels: list[str]
    exclude_ids: set[int] = field(default_factory=set)
    exclude_shas: set[str] = field(default_factory=set)

    def exclusions(self) -> list[ColumnElement[bool]]:
        """SQL conditions that drop the excluded images (by id, and by the bytes' sha256)."""
        out: list[ColumnElement[bool]] = []
        if self.exclude_ids:
            out.append(Image.id.notin_(sorted(self.exclude_ids)))
        if self.exclude_shas:
            out.append(or_(Image.sha256.is_(None), Image.sha256.notin_(sorted(self.exclude_shas))))
        return out


def embed_image_bytes(settings: Settings, data: bytes, max_bytes: int | None = None) -> np.ndarray:
    """The CLS embedding of an uploaded image, decoded under the ingest limits."""
    limit = max_bytes or settings.max_upload_bytes
    if len(data) > limit:
        raise PayloadTooLarge(f"image is {len(data)} bytes; the limit is {limit}")
    encoder = get_encoder(settings)
    # A DecodeError is an UnsupportedImage: the API renders it 415 as it is.
    decoded = decode_image(
        data, max_pixels=settings.max_image_pixels, draft_size=centre_draft_side(encoder.image_size)
    )
    pixels, _ = encoder.preprocessor(decoded.image, (decoded.width, decoded.height))
    return encoder.encode_pixels(pixels[None]).cls[0]


def resolve_query(
    session: Session, settings: Settings, texts: TextEmbedder, query: Query, dim: int
) -> Resolved:
    """Each part of `query` as a unit vector of `dim` (the index's), combined by weight.

    Raises:
        InvalidRequest: a part's vector is not of the index's dimension, or the parts cancel out.
        ImageNotFound: an image id or region part whose image is not searchable.
        IndexNotReady: an image id part with no stored vector for the configured model yet,
            or a region part whose image has no stored patches.
        InvalidRegion: a region part's box (see search/region_query.py).
        UnsupportedImage, PayloadTooLarge: an uploaded image part.
    """
    model = ModelId.of(settings).key
    templates = settings.prompt_templates if query.templates is None else query.templates
    vectors: list[np.ndarray] = []
    exclude_ids: set[int] = set()
    exclude_shas: set[str] = set()
    for i, part in enumerate(query.parts):
        if isinstance(part, TextPart):
            vector = texts.embed(get_encoder(settings), part.text.strip(), templates)
        elif isinstance(part, ImagePart):
            vector = embed_image_bytes(settings, part.data)
            if part.weight > 0:
                exclude_shas.add(hashlib.sha256(part.data).hexdigest())
        elif isinstance(part, ImageIdPart):
            image = get_searchable_image(session, part.image_id)
            blob = session.scalar(
                select(ImageVector.vector).where(
                    ImageVector.image_id == part.image_id, ImageVector.model == model
                )
            )
            if blob is None:
                raise IndexNotReady(f"image {part.image_id} has no stored embedding for this model yet")
            vector = np.frombuffer(blob, dtype="<f4")
            if part.weight > 0:
                exclude_ids.add(part.image_id)
                if image.sha256:
                    exclude_shas.add(image.sha256)
        elif isinstance(part, RegionPart):
            vector = region_vector(session, settings, part.image_id, part.box)
            if part.weight > 0:
                exclude_ids.add(part.image_id)
                sha = get_searchable_image(session, part.image_id).sha256
                if sha:
                    exclude_shas.add(sha)
        else:
            vector = np.asarray(part.vector, dtype=np.float32).reshape(-1)
        if vector.shape[0] != dim:
            raise InvalidRequest(f"part {i} has dim {vector.shape[0]}, the index has {dim}")
        vectors.append(vector)
    weights = np.array([p.weight for p in query.parts], dtype=np.float64)
    return Resolved(
        combined=combine(np.stack(vectors), weights),
        labels=[part_label(p) for p in query.parts],
        exclude_ids=set() if query.include_query_images else exclude_ids,
        exclude_shas=exclude_shas if query.exclude_duplicates else set(),
    )
