"""clip-retrieval's output layout, as pandas, DuckDB and autofaiss read it with no pixseek code.

    DIR/img_emb/img_emb_0.npy            float32 (n, dim), L2-normalised, one row per image
    DIR/metadata/metadata_0.parquet      the same n rows, in the same order
    DIR/img_emb/img_emb_1.npy ...        further shards
    DIR/pixseek.json                     the model, dim, shard count and columns (pixseek's own)
    DIR/patch_emb/patch_emb_0.npy        with --patches: every image's patch grid, float16 rows
                                         (cells, dim) one image after another; the metadata's
                                         patch_offset, patch_rows, patch_cols find each image's

clip-retrieval names a file by `image_path`; pixseek's metadata carries it too (the file's
path or URI), with the bucket, key and catalog facts beside it. The model id is in
`pixseek.json` and in each Parquet file's schema metadata (`pixseek.model`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pixseek.core.errors import InvalidRequest

MANIFEST = "pixseek.json"
FORMAT = "clip-retrieval"
PATCH_DIR = "patch_emb"  # pixseek's own: patch embeddings, when exported


@dataclass
class ExchangeManifest:
    model: str  # `name/pretrained`, ModelId.key
    dim: int
    count: int
    shards: int
    columns: list[str] = field(default_factory=list)
    format: str = FORMAT
    created_at: str = ""

    def write(self, folder: Path) -> None:
        _atomic_write(folder / MANIFEST, json.dumps(asdict(self), indent=2).encode())

    @classmethod
    def read(cls, folder: Path) -> ExchangeManifest | None:
        path = folder / MANIFEST
        if not path.exists():
            return None
        values = json.loads(path.read_text())
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


def emb_path(folder: Path, shard: int) -> Path:
    return folder / "img_emb" / f"img_emb_{shard}.npy"


def patch_path(folder: Path, shard: int) -> Path:
    return folder / PATCH_DIR / f"{PATCH_DIR}_{shard}.npy"


def meta_path(folder: Path, shard: int) -> Path:
    return folder / "metadata" / f"metadata_{shard}.parquet"


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


def write_shard(folder: Path, shard: int, vectors: np.ndarray, table: pa.Table, model: str) -> int:
    """Write one shard (embeddings, then metadata), each through a temp file; its bytes on disk."""
    if len(table) != len(vectors):
        raise ValueError(f"shard {shard}: {len(vectors)} vectors for {len(table)} metadata rows")
    path = emb_path(folder, shard)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as out:
        np.save(out, np.ascontiguousarray(vectors, dtype=np.float32))
    os.replace(tmp, path)
    meta = meta_path(folder, shard)
    meta.parent.mkdir(parents=True, exist_ok=True)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"pixseek.model": model.encode()})
    tmp = meta.with_name(f".{meta.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, meta)
    return path.stat().st_size + meta.stat().st_size


def shard_numbers(folder: Path) -> list[int]:
    """The shards in a folder, by the number in `img_emb_N.npy`; each must have its metadata."""
    numbers = sorted(
        int(p.stem.removeprefix("img_emb_"))
        for p in (folder / "img_emb").glob("img_emb_*.npy")
        if p.stem.removeprefix("img_emb_").isdigit()
    )
    if not numbers:
        raise InvalidRequest(f"{folder} holds no img_emb/img_emb_N.npy: not clip-retrieval's layout")
    for n in numbers:
        if not meta_path(folder, n).exists():
            raise InvalidRequest(f"{emb_path(folder, n)} has no {meta_path(folder, n).relative_to(folder)}")
    return numbers


def read_shards(folder: Path) -> Iterator[tuple[int, np.ndarray, list[dict[str, Any]]]]:
    """Each shard's embeddings (memory-mapped) and metadata rows, in shard order."""
    for n in shard_numbers(folder):
        vectors = np.load(emb_path(folder, n), mmap_mode="r")
        rows = pq.read_table(meta_path(folder, n)).to_pylist()
        if vectors.ndim != 2 or len(vectors) != len(rows):
            raise InvalidRequest(
                f"shard {n}: {vectors.shape} embeddings for {len(rows)} metadata rows; they must match"
            )
        yield n, vectors, rows


def parquet_model(folder: Path) -> str | None:
    """The model a shard's Parquet schema names (`pixseek.model`), if any."""
    numbers = shard_numbers(folder)
    metadata = pq.read_schema(meta_path(folder, numbers[0])).metadata or {}
    value = metadata.get(b"pixseek.model")
    return value.decode() if value else None
