"""`pixseek import`: embeddings computed elsewhere made searchable without running the model.

The folder is in clip-retrieval's layout (index/exchange/layout.py): pixseek's own export,
or clip-retrieval's output over the files of a bucket. Each row names its file (`key`, or
`image_path` inside the bucket); the file must be in the bucket given, and with pixseek's
export its sha256 must still match, or the row is left out (counted). Rows become catalog
images with their vector, `embedded`, and the index writer publishes them as after an
ingest. The model id and the dimension must be the configured model's.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import delete, insert, select

from pixseek.core.db import session_scope, utcnow
from pixseek.core.errors import InvalidRequest, ModelMismatch
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image, ImageStatus, ImageVector
from pixseek.index.exchange.layout import ExchangeManifest, parquet_model, read_shards
from pixseek.index.vectors.writer import publish_index
from pixseek.media.decode import DecodeError, decode_image
from pixseek.media.sources.base import BucketSource, Entry, SourceError
from pixseek.media.sources.registry import open_source
from pixseek.model.encoder import embed_dim
from pixseek.model.identity import ModelId

log = logging.getLogger(__name__)

BATCH = 2000  # rows per transaction
PROBE_SIDE = 64  # JPEGs decode in draft mode: only the size and the EXIF are wanted


@dataclass
class ImportResult:
    model: str
    rows: int = 0
    imported: int = 0
    missing: int = 0  # no such file in the bucket
    changed: int = 0  # the file's sha256 differs from the export's
    unreadable: int = 0
    generation: int | None = None
    problems: list[str] = field(default_factory=list)  # the first few, for the command's output


def check_model(folder: Path, settings: Settings, declared: str | None) -> tuple[ModelId, int]:
    """The configured model and dim, if the folder's embeddings are of it; ModelMismatch otherwise."""
    model = ModelId.of(settings)
    manifest = ExchangeManifest.read(folder)
    found = (manifest.model if manifest else None) or parquet_model(folder) or declared
    if found is None:
        raise InvalidRequest(
            f"{folder} does not say which model made its embeddings (no pixseek.json): "
            f"give --model {model.key} if that is the one"
        )
    if declared is not None and declared != found:
        raise ModelMismatch(f"--model {declared} but {folder} says its embeddings are {found}")
    if found != model.key:
        raise ModelMismatch(f"the embeddings are {found}; this server is configured for {model.key}")
    return model, embed_dim(model.name)


def _key_of(row: dict[str, Any], source: BucketSource, root: str) -> str | None:
    if row.get("key"):
        return str(row["key"])
    path = row.get("image_path")
    if not path:
        return None
    path = str(path)
    if path.startswith(root):
        return path[len(root) :].lstrip("/")
    return None if os.path.isabs(path) or "://" in path else path


def import_embeddings(
    settings: Settings, folder: Path, bucket: str, *, model_key: str | None = None
) -> ImportResult:
    """Catalog and index the embeddings in `folder` for the files of `bucket`."""
    model, dim = check_model(folder, settings, model_key)
    source = open_source(bucket, settings)
    root = source.bucket.rstrip("/") + "/"
    # One listing, as an ingest makes: the size, mtime and etag a later ingest compares.
    entries = {e.key: e for e in source.list() if e.skip is None and e.refuse is None}
    result = ImportResult(model=model.key)
    for shard, vectors, rows in read_shards(folder):
        if vectors.shape[1] != dim:
            raise ModelMismatch(
                f"shard {shard} holds {vectors.shape[1]}-d embeddings; {model.key} makes {dim}-d"
            )
        for start in range(0, len(rows), BATCH):
            batch = np.asarray(vectors[start : start + BATCH], dtype=np.float32)
            norms = np.linalg.norm(batch, axis=1, keepdims=True)
            batch = batch / np.maximum(norms, 1e-12)  # stored L2-normalised, as ingest stores them
            _store(settings, source, entries, root, rows[start : start + BATCH], batch, model, result)
    result.generation = publish_index(settings, model).generation
    log.info(
        "exchange.imported folder=%s bucket=%s imported=%d missing=%d changed=%d unreadable=%d",
        folder, source.bucket, result.imported, result.missing, result.changed, result.unreadable,
    )  # fmt: skip
    return result


def _problem(result: ImportResult, text: str) -> None:
    if len(result.problems) < 20:
        result.problems.append(text)


def _store(
    settings: Settings,
    source: BucketSource,
    entries: dict[str, Entry],
    root: str,
    rows: list[dict[str, Any]],
    vectors: np.ndarray,
    model: ModelId,
    result: ImportResult,
) -> None:
    now = utcnow()
    with session_scope(settings) as session:
        keys = [_key_of(row, source, root) for row in rows]
        existing = {
            row.key: row
            for row in session.scalars(
                select(Image).where(Image.bucket == source.bucket, Image.key.in_([k for k in keys if k]))
            )
        }
        stored: list[tuple[Image, str, np.ndarray]] = []
        for row, key, vector in zip(rows, keys, vectors, strict=True):
            result.rows += 1
            entry = entries.get(key) if key is not None else None
            if key is None or entry is None:
                result.missing += 1
                _problem(result, f"{key or row.get('image_path')!r} is not in bucket {source.bucket}")
                continue
            try:
                data = source.read(key, settings.max_file_bytes)
            except SourceError as exc:
                result.missing += 1
                _problem(result, f"{key}: {exc.detail}")
                continue
            digest = hashlib.sha256(data).hexdigest()
            if row.get("sha256") and row["sha256"] != digest:
                result.changed += 1
                _problem(result, f"{key}: the file changed since its embedding was made")
                continue
            try:
                decoded = decode_image(data, max_pixels=settings.max_image_pixels, draft_size=PROBE_SIDE)
            except DecodeError as exc:
                result.unreadable += 1
                _problem(result, f"{key}: {exc.detail}")
                continue
            image = existing.get(key) or Image(bucket=source.bucket, key=key)
            image.size, image.sha256, image.format = len(data), digest, decoded.format
            image.mtime, image.etag = entry.mtime, entry.etag
            image.width, image.height, image.captured_at = decoded.width, decoded.height, decoded.captured_at
            image.status, image.model, image.error = ImageStatus.EMBEDDED, model.key, None
            image.embedded_at = now
            if image.id is None and key not in existing:
                session.add(image)
            existing[key] = image  # a key twice in a batch: the later row wins
            stored.append((image, digest, vector))
            result.imported += 1
        session.flush()  # one flush: the new rows get their ids in a batch
        stored = list({image.key: (image, digest, vector) for image, digest, vector in stored}.values())
        ids = [image.id for image, _, _ in stored]
        session.execute(
            delete(ImageVector).where(ImageVector.image_id.in_(ids), ImageVector.model == model.key)
        )
        if stored:
            session.execute(
                insert(ImageVector),
                [
                    {"image_id": image.id, "model": model.key, "dim": int(vector.shape[0]), "sha256": digest,
                     "vector": vector.astype("<f4").tobytes()}
                    for image, digest, vector in stored
                ],
            )  # fmt: skip
