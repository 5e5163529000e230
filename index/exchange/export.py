"""`pixseek export`: the searchable catalog's embeddings and metadata in clip-retrieval's layout."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from pixseek.core.db import in_chunks, session_scope
from pixseek.core.settings import Settings
from pixseek.index.catalog.duplicates import DuplicateGroup, DuplicateMember, GroupStatus
from pixseek.index.catalog.images import SEARCHABLE, Image, ImageVector
from pixseek.index.catalog.ocr import ImageOcr
from pixseek.index.catalog.tags import tags_of
from pixseek.index.exchange.layout import ExchangeManifest, patch_path, write_shard
from pixseek.index.vectors.patch_store import PatchStore
from pixseek.model.identity import ModelId

log = logging.getLogger(__name__)

SCHEMA = pa.schema(
    [
        ("image_path", pa.string()),  # clip-retrieval's name for the file: its path or URI
        ("id", pa.int64()),
        ("bucket", pa.string()),
        ("key", pa.string()),
        ("sha256", pa.string()),
        ("size", pa.int64()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("format", pa.string()),
        ("captured_at", pa.timestamp("us", tz="UTC")),
        ("tags", pa.list_(pa.string())),
        ("ocr_text", pa.string()),
        ("duplicate_group", pa.int64()),  # the open duplicate group the image is in, if any
    ]
)


@dataclass
class ExportResult:
    folder: Path
    model: str
    dim: int
    count: int
    shards: int
    bytes: int


def image_path(bucket: str, key: str) -> str:
    return f"{bucket.rstrip('/')}/{key}"


def _metadata(session: Session, images: list[Image]) -> pa.Table:
    ids = [row.id for row in images]
    tags: dict[int, list[tuple[str, float]]] = {}
    ocr: dict[int, str] = {}
    groups: dict[int, int] = {}
    for part in in_chunks(ids):
        tags.update(tags_of(session, part))
        for row in session.scalars(select(ImageOcr).where(ImageOcr.image_id.in_(part))):
            ocr[row.image_id] = " ".join(str(w.get("text", "")) for w in row.words)
        members = session.execute(
            select(DuplicateMember.image_id, DuplicateMember.group_id)
            .join(DuplicateGroup, DuplicateGroup.id == DuplicateMember.group_id)
            .where(DuplicateMember.image_id.in_(part), DuplicateGroup.status == GroupStatus.OPEN)
        )
        groups.update({int(image_id): int(group_id) for image_id, group_id in members})
    columns = {
        "image_path": [image_path(r.bucket, r.key) for r in images],
        "id": ids,
        "bucket": [r.bucket for r in images],
        "key": [r.key for r in images],
        "sha256": [r.sha256 for r in images],
        "size": [r.size for r in images],
        "width": [r.width for r in images],
        "height": [r.height for r in images],
        "format": [r.format for r in images],
        "captured_at": [r.captured_at for r in images],
        "tags": [[name for name, _ in tags.get(i, [])] for i in ids],
        "ocr_text": [ocr.get(i) or None for i in ids],
        "duplicate_group": [groups.get(i) for i in ids],
    }
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def _patches(store: PatchStore, ids: list[int]) -> tuple[np.ndarray, dict[str, list[int | None]]]:
    """The shard's patch grids as one float16 matrix, and where each image's rows are."""
    grids: list[np.ndarray] = []
    columns: dict[str, list[int | None]] = {"patch_offset": [], "patch_rows": [], "patch_cols": []}
    offset = 0
    for image_id in ids:
        grid = store.get(image_id)
        if grid is None:
            for name in columns:
                columns[name].append(None)
            continue
        rows, cols, dim = grid.shape
        grids.append(grid.reshape(rows * cols, dim).astype(np.float16))
        columns["patch_offset"].append(offset)
        columns["patch_rows"].append(rows)
        columns["patch_cols"].append(cols)
        offset += rows * cols
    matrix = np.vstack(grids) if grids else np.empty((0, 0), dtype=np.float16)
    return matrix, columns


def export_catalog(
    settings: Settings, folder: Path, shard_size: int = 1_000_000, *, patches: bool = False
) -> ExportResult:
    """Write every searchable image of the configured model: `img_emb/img_emb_N.npy` and
    `metadata/metadata_N.parquet`, `shard_size` rows each, in id order.

    Memory: one shard's vectors and metadata at a time (dim x 4 bytes a row, 2 GiB for a
    million rows at dim 512); the id list of the whole catalog (8 bytes an image).
    """
    model = ModelId.of(settings)
    folder.mkdir(parents=True, exist_ok=True)
    count = shards = written = 0
    dim = 0
    with session_scope(settings) as session:
        ids = list(
            session.scalars(
                select(Image.id)
                .where(Image.status.in_(list(SEARCHABLE)), Image.model == model.key)
                .order_by(Image.id)
            )
        )
        for start in range(0, len(ids), shard_size):
            shard_ids = ids[start : start + shard_size]
            images: list[Image] = []
            vectors: list[np.ndarray] = []
            for part in in_chunks(shard_ids):
                rows = session.execute(
                    select(Image, ImageVector.vector)
                    .join(ImageVector, ImageVector.image_id == Image.id)
                    .where(Image.id.in_(part), ImageVector.model == model.key)
                    .order_by(Image.id)
                ).all()
                for image, blob in rows:
                    images.append(image)
                    vectors.append(np.frombuffer(blob, dtype="<f4"))
            if not images:
                continue
            matrix = np.vstack(vectors)
            dim = matrix.shape[1]
            table = _metadata(session, images)
            if patches:
                grid, where = _patches(PatchStore(settings.patch_dir), [image.id for image in images])
                for name, values in where.items():
                    table = table.append_column(name, pa.array(values, type=pa.int64()))
                path = patch_path(folder, shards)
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, grid)
                written += path.stat().st_size
            written += write_shard(folder, shards, matrix, table, model.key)
            count += len(images)
            shards += 1
            session.expunge_all()  # one shard's rows in memory at a time
    ExchangeManifest(
        model=model.key,
        dim=dim,
        count=count,
        shards=shards,
        columns=[*SCHEMA.names, *(["patch_offset", "patch_rows", "patch_cols"] if patches else [])],
        created_at=datetime.now(UTC).isoformat(),
    ).write(folder)
    log.info("exchange.exported folder=%s count=%d shards=%d bytes=%d", folder, count, shards, written)
    return ExportResult(folder, model.key, dim, count, shards, written)
