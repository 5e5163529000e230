"""Reading what detection needs from SQL in chunks, as numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from pixseek.core.db import in_chunks
from pixseek.index.catalog.duplicates import ImageHash
from pixseek.index.catalog.images import SEARCHABLE, Image, ImageVector
from pixseek.media.perceptual_hash import CODES_BYTES, THUMB, VERSION, unpack_codes
from pixseek.search.duplicates.keeper import ImageFacts

CHUNK = 20_000  # rows per page read from SQL, per insert batch and per block compared in memory


class SqlThumbs:
    """Thumbnails read from SQL on demand: only candidate rows are ever loaded.

    Indexing with an array of rows returns (len(rows), 64, 64) uint8, like a numpy array
    would; a million images' thumbnails would need 4 GB.
    """

    def __init__(self, session: Session, ids: np.ndarray) -> None:
        self.session = session
        self.ids = ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        unique, inverse = np.unique(rows, return_inverse=True)
        wanted = self.ids[unique]
        blobs: dict[int, bytes] = {}
        for part in in_chunks(wanted.tolist()):
            for image_id, blob in self.session.execute(
                select(ImageHash.image_id, ImageHash.thumbs).where(ImageHash.image_id.in_(part))
            ):
                blobs[int(image_id)] = blob
        data = b"".join(blobs[int(i)] for i in wanted)
        found = np.frombuffer(data, dtype=np.uint8).reshape(len(wanted), THUMB, THUMB)
        return found[inverse.reshape(-1)]


@dataclass
class Collection:
    """Every searchable image with a current signature, row-aligned."""

    ids: np.ndarray  # (N,) int64, sorted
    codes: np.ndarray  # (N, CODE_ROWS, 8) uint8: 1,416 bytes per image
    thumbs: SqlThumbs  # (N, 64, 64) uint8, read on demand
    unchecked: np.ndarray  # (N,) bool: never compared since it arrived or changed

    def rows_of(self, image_ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.ids, image_ids)


def load_collection(session: Session) -> Collection:
    ids: list[int] = []
    codes: list[bytes] = []
    unchecked: list[bool] = []
    last = -1
    while True:
        rows = session.execute(
            select(ImageHash.image_id, ImageHash.codes, ImageHash.checked_at)
            .join(Image, Image.id == ImageHash.image_id)
            .where(
                Image.status.in_(list(SEARCHABLE)), ImageHash.version == VERSION, ImageHash.image_id > last
            )
            .order_by(ImageHash.image_id)
            .limit(CHUNK)
        ).all()
        if not rows:
            break
        for image_id, code, checked in rows:
            ids.append(int(image_id))
            codes.append(code)
            unchecked.append(checked is None)
        last = ids[-1]
    n = len(ids)
    code_arr = np.frombuffer(b"".join(codes), dtype=np.uint8).reshape(n, CODES_BYTES)
    id_arr = np.asarray(ids, dtype=np.int64)
    return Collection(
        ids=id_arr,
        codes=unpack_codes(code_arr),
        thumbs=SqlThumbs(session, id_arr),
        unchecked=np.asarray(unchecked, dtype=bool),
    )


def load_vectors(session: Session, ids: np.ndarray, model: str) -> tuple[np.ndarray, np.ndarray]:
    """CLS vectors of the given images under `model`: (rows into `ids` that have one, vectors)."""
    found_ids: list[int] = []
    blobs: list[bytes] = []
    id_list = [int(i) for i in ids]
    for part in in_chunks(id_list):
        for image_id, blob in session.execute(
            select(ImageVector.image_id, ImageVector.vector).where(
                ImageVector.image_id.in_(part), ImageVector.model == model
            )
        ):
            found_ids.append(int(image_id))
            blobs.append(blob)
    if not found_ids:
        return np.empty(0, dtype=np.int64), np.empty((0, 0), dtype=np.float32)
    order = np.argsort(found_ids)
    vectors = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(found_ids), -1)[order]
    rows = np.searchsorted(ids, np.asarray(found_ids, dtype=np.int64)[order])
    return rows, np.ascontiguousarray(vectors, dtype=np.float32)


def load_facts(session: Session, image_ids: list[int]) -> dict[int, tuple[ImageFacts, Image]]:
    """Keeper facts and catalog rows of searchable images among `image_ids`."""
    out: dict[int, tuple[ImageFacts, Image]] = {}
    for part in in_chunks(image_ids):
        for row in session.scalars(
            select(Image).where(Image.id.in_(part), Image.status.in_(list(SEARCHABLE)))
        ):
            facts = ImageFacts(
                id=row.id, width=row.width, height=row.height, size=row.size, captured_at=row.captured_at
            )
            out[row.id] = (facts, row)
    return out
