"""Catalogs built straight from vectors: exact expectations without running the model."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import faiss
import numpy as np

from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image, ImageStatus, ImageVector
from pixseek.index.catalog.keywords import put_document
from pixseek.index.catalog.tokenize import document_for
from pixseek.index.vectors.factory import build_index
from pixseek.index.vectors.manifest import Manifest
from pixseek.index.vectors.store import IndexStore
from pixseek.index.vectors.writer import publish_index
from pixseek.model.identity import ModelId

DIM = 64  # the tiny test model's embedding size, so text parts work on these catalogs too


@dataclass
class Spec:
    key: str
    vector: np.ndarray
    bucket: str = "/bucket"
    format: str = "PNG"
    width: int = 100
    height: int = 100
    size: int = 1000
    captured_at: datetime | None = None
    created_at: datetime | None = None
    sha256: str | None = None
    caption: str | None = None


def unit(vector: np.ndarray) -> np.ndarray:
    v = np.asarray(vector, dtype=np.float32)
    return (v / np.linalg.norm(v)).astype(np.float32)


def random_vectors(n: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def build(settings: Settings, specs: list[Spec]) -> list[int]:
    """Catalog rows, vectors and keyword documents for `specs`, then publish the index."""
    model = f"{settings.model}/{settings.pretrained}"
    ids: list[int] = []
    with session_scope(settings) as session:
        for spec in specs:
            vector = unit(spec.vector)
            sha = spec.sha256 or hashlib.sha256(spec.key.encode()).hexdigest()
            row = Image(
                bucket=spec.bucket,
                key=spec.key,
                size=spec.size,
                sha256=sha,
                format=spec.format,
                width=spec.width,
                height=spec.height,
                captured_at=spec.captured_at,
                status=ImageStatus.EMBEDDED,
                model=model,
                created_at=spec.created_at or datetime.now(UTC),
            )
            session.add(row)
            session.flush()
            session.add(
                ImageVector(image_id=row.id, model=model, dim=DIM, sha256=sha, vector=vector.tobytes())
            )
            put_document(session, row.id, document_for(spec.key, spec.caption))
            ids.append(row.id)
    publish_index(settings, ModelId.of(settings))
    return ids


def publish(settings: Settings, ids: list[int], vectors: np.ndarray, kind: str = "flat") -> None:
    """Publish an index of `vectors`: `flat` (exact), or an approximate `ivf` (1 of 16 lists
    probed) or `hnsw` one, as a larger deployment might use."""
    id_array = np.asarray(ids, dtype=np.int64)
    if kind == "ivf":
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, 16, faiss.METRIC_INNER_PRODUCT)
        ivf.train(vectors)
        ivf.nprobe = 1
        index = faiss.IndexIDMap2(ivf)
        index.add_with_ids(vectors, id_array)
    elif kind == "hnsw":
        index = faiss.IndexIDMap2(faiss.IndexHNSWFlat(DIM, 16, faiss.METRIC_INNER_PRODUCT))
        index.add_with_ids(vectors, id_array)
    else:
        index, _ = build_index(vectors, id_array)  # flat at test sizes, as the writer builds it
    store = IndexStore(settings.index_dir)
    manifest = Manifest(model=settings.model, pretrained=settings.pretrained, dim=DIM, count=0, generation=0)
    manifest.index_type = {"ivf": "IDMap2,IVF16,Flat", "hnsw": "IDMap2,HNSW16"}.get(kind, manifest.index_type)
    with store.lock():
        store.publish(index, manifest)
