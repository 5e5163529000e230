"""Keep the patch index in line with the catalog, and the patch store honest about its mode.

The index writer calls `update_patch_index` under its lock, after the CLS index: like the
CLS index, the patch index converges on what SQL says is searchable (ids of images no
longer searchable are removed, re-embedded ones replaced, missing ones added), so a re-run
after a crash at any point gives the same index.

The patch store records which patch mode wrote it (`<patch_dir>/manifest.json`); ingest
refuses to add patches made another way, since a mixed store would rank images by
incomparable scores.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from pixseek.core.settings import Settings
from pixseek.index.catalog import SEARCHABLE, Image, ImageStatus
from pixseek.index.manifest import EXACT_TYPE, PatchManifest, PatchModeMismatch
from pixseek.index.patch_index import (
    RETRAIN_GROWTH,
    PatchIndexStore,
    choose_nlist,
    index_type,
    new_exact_index,
    patch_ids,
    train_compressed_index,
)
from pixseek.index.patches import PatchStore
from pixseek.model.bundled import recommended_patch_mode
from pixseek.model.identity import ModelId

log = logging.getLogger(__name__)

STORE_MANIFEST = "manifest.json"
READ_CHUNK = 1024  # images per add: 1024 * 49 patches * 512 dims * 4 bytes = 100 MB at most
# Patches written before patch modes existed were the model's own tokens.
LEGACY_MODE = "plain"


def patch_index_store(settings: Settings) -> PatchIndexStore:
    return PatchIndexStore(settings.patch_index_dir)


# --- the patch store's mode ----------------------------------------------------------------


def _store_manifest(patch_dir: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((patch_dir / STORE_MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return data


def store_patch_mode(patch_dir: Path) -> str | None:
    """The patch mode recorded for the store, `plain` for a store from before modes, or None."""
    manifest = _store_manifest(patch_dir)
    if manifest is not None:
        return str(manifest["patch_mode"])
    if next(patch_dir.glob("*/*.npy"), None) is not None:
        return LEGACY_MODE
    return None


def effective_patch_mode(settings: Settings) -> str:
    """The patch mode this data dir works in: the setting, else the store's, else the model's best.

    An unset `PIXSEEK_PATCH_MODE` follows what the store already holds, so changing the
    default never strands an existing data dir; a set one that differs from the store is
    refused where patches are written or searched (`PatchModeMismatch`).
    """
    if settings.patch_mode is not None:
        return settings.patch_mode
    return store_patch_mode(settings.patch_dir) or recommended_patch_mode(settings.model)


def store_image_size(patch_dir: Path) -> int:
    """The model input side the stored patches were cut from, or 0 where a store predates it."""
    manifest = _store_manifest(patch_dir) or {}
    return int(manifest.get("image_size", 0))


def ensure_store_patch_mode(patch_dir: Path, patch_mode: str, image_size: int) -> None:
    """Record the patch mode and input size for the store; refuse another mode's patches.

    The input size is what region search needs to place patch cells on a photo, kept here so
    that neither the index writer nor a region query has to load the model to learn it.

    Raises:
        PatchModeMismatch: the store was written with a different mode.
    """
    current = store_patch_mode(patch_dir)
    if current is not None and current != patch_mode:
        raise PatchModeMismatch(
            f"the patch store {patch_dir} holds {current!r} patches and this ingest would add "
            f"{patch_mode!r} ones; set PIXSEEK_PATCH_MODE={current}, or ingest into a new "
            "PIXSEEK_DATA_DIR to use the new mode"
        )
    if store_image_size(patch_dir) == image_size:
        return
    patch_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=patch_dir, prefix=".manifest.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"patch_mode": patch_mode, "image_size": image_size}, fh)
    os.replace(tmp, patch_dir / STORE_MANIFEST)


# --- the index ------------------------------------------------------------------------------


@dataclass
class PatchIndexResult:
    generation: int | None
    images: int
    patches: int
    added: int
    removed: int
    index_type: str


def _read_patches(
    store: PatchStore, image_ids: np.ndarray, grid: tuple[int, int], dim: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(image ids, patch ids, float32 vectors) in chunks; images without patches are skipped."""
    for start in range(0, len(image_ids), READ_CHUNK):
        got: list[int] = []
        arrays: list[np.ndarray] = []
        for image_id in image_ids[start : start + READ_CHUNK]:
            arr = store.get(int(image_id))
            if arr is None or arr.shape != (grid[0], grid[1], dim):
                log.warning("patch_index.missing_patches image=%d", int(image_id))
                continue
            got.append(int(image_id))
            arrays.append(arr.reshape(-1, dim))
        if got:
            ids = np.asarray(got, dtype=np.int64)
            yield ids, patch_ids(ids, grid), np.vstack(arrays).astype(np.float32)


def _new_index(
    settings: Settings, store: PatchStore, image_ids: np.ndarray, grid: tuple[int, int], dim: int
) -> tuple[faiss.Index, int]:
    """An empty index for `image_ids`: exact when small, else trained on a sample of them."""
    cells = grid[0] * grid[1]
    total = len(image_ids) * cells
    if total < settings.patch_index_min_train:
        return new_exact_index(dim), 0
    nlist = choose_nlist(total)
    # Enough images for the coarse k-means (FAISS samples 256 points per centroid at most).
    want_images = max(1, min(len(image_ids), (256 * nlist) // cells + 1))
    rng = np.random.default_rng(0)
    sample_ids = np.sort(rng.choice(image_ids, size=want_images, replace=False))
    sample = np.vstack([vecs for _, _, vecs in _read_patches(store, sample_ids, grid, dim)])
    nlist = min(nlist, choose_nlist(len(sample)))
    log.info(
        "patch_index.training nlist=%d sample=%d pq_bytes=%d", nlist, len(sample), settings.patch_pq_bytes
    )
    return train_compressed_index(sample, pq_bytes=settings.patch_pq_bytes, nlist=nlist), total


def update_patch_index(
    settings: Settings, session: Session, model: ModelId, dim: int, cls_generation: int | None
) -> PatchIndexResult:
    """Bring the patch index in line with the catalog; publish a generation if anything changed.

    Call with the index writer's lock held, before embedded images are marked indexed.
    """
    patch_store = PatchStore(settings.patch_dir)
    mode = store_patch_mode(settings.patch_dir) or effective_patch_mode(settings)
    rows = session.execute(
        select(Image.id, Image.status, Image.grid_h, Image.grid_w).where(
            Image.status.in_(list(SEARCHABLE)), Image.model == model.key
        )
    ).all()
    grids = {(int(gh), int(gw)) for _, _, gh, gw in rows if gh and gw}
    if len(grids) > 1:
        log.warning("patch_index.mixed_grids grids=%s: using the most recent model's", sorted(grids))
    store = patch_index_store(settings)
    loaded = store.load()
    # With nothing searchable, keep the old grid so that the removals still address patches.
    grid = max(grids) if grids else (loaded.manifest.grid if loaded is not None else (0, 0))
    searchable = np.asarray(sorted(int(i) for i, _, gh, gw in rows if (gh, gw) == grid), dtype=np.int64)
    embedded = np.asarray(
        sorted(int(i) for i, status, gh, gw in rows if status == ImageStatus.EMBEDDED and (gh, gw) == grid),
        dtype=np.int64,
    )
    fresh = loaded is None or (
        (loaded.manifest.model_id, loaded.manifest.dim, loaded.manifest.grid, loaded.manifest.patch_mode)
        != (model, dim, grid, mode)
    )
    if not fresh:
        assert loaded is not None
        cells = grid[0] * grid[1]
        grown = (
            loaded.manifest.trained_on
            and len(searchable) * cells >= RETRAIN_GROWTH * loaded.manifest.trained_on
        )
        crossed = (
            loaded.manifest.index_type == EXACT_TYPE
            and len(searchable) * cells >= settings.patch_index_min_train
        )
        if grown or crossed:
            log.info("patch_index.rebuild reason=%s", "grown" if grown else "threshold")
            fresh = True
    if fresh:
        if loaded is not None and grid != (0, 0):
            log.info("patch_index.rebuilding old=%s new=%s/%s", loaded.manifest.model_id, model, mode)
        index, trained_on = _new_index(settings, patch_store, searchable, grid, dim)
        present = np.empty(0, dtype=np.int64)
        to_add = searchable
    else:
        assert loaded is not None
        index, trained_on, present = loaded.index, loaded.manifest.trained_on, loaded.images
        to_add = np.union1d(embedded, np.setdiff1d(searchable, present))
    stale = np.setdiff1d(present, searchable)
    to_remove = np.union1d(stale, np.intersect1d(present, embedded))
    if to_remove.size:
        index.remove_ids(faiss.IDSelectorBatch(patch_ids(to_remove, grid)))
    kept = np.setdiff1d(present, to_remove)
    added: list[np.ndarray] = []
    for image_ids, ids, vectors in _read_patches(patch_store, to_add, grid, dim):
        index.add_with_ids(vectors, ids)
        added.append(image_ids)
    now_present = np.union1d(kept, np.concatenate(added)) if added else kept
    changed = fresh or bool(to_remove.size) or bool(added)
    generation = loaded.manifest.generation if loaded is not None else None
    if changed and grid != (0, 0):
        manifest = PatchManifest(
            model=model.name,
            pretrained=model.pretrained,
            dim=dim,
            grid_h=grid[0],
            grid_w=grid[1],
            patch_mode=mode,
            image_size=store_image_size(settings.patch_dir),
            cls_generation=cls_generation,
            trained_on=trained_on,
        )
        generation = store.publish(index, now_present, manifest)
    return PatchIndexResult(
        generation=generation,
        images=len(now_present),
        patches=int(index.ntotal),
        added=int(sum(len(a) for a in added)),
        removed=len(stale),
        index_type=index_type(index),
    )
