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
from pixseek.index.catalog.images import SEARCHABLE, Image, ImageStatus, patch_coverage
from pixseek.index.vectors.manifest import EXACT_TYPE, PatchManifest, PatchModeMismatch
from pixseek.index.vectors.patch_index import (
    RETRAIN_GROWTH,
    PatchIndexStore,
    choose_nlist,
    image_patch_ids,
    index_type,
    new_exact_index,
    train_compressed_index,
)
from pixseek.index.vectors.patch_store import PatchStore
from pixseek.model.bundled import recommended_patch_mode
from pixseek.model.identity import ModelId
from pixseek.model.tiling import MAX_CELLS

log = logging.getLogger(__name__)

STORE_MANIFEST = "manifest.json"
# Patches per add: 65,536 * 512 dims * 4 bytes = 128 MB at most, whatever the grids.
READ_PATCHES = 65_536
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
    store: PatchStore, image_ids: np.ndarray, dim: int, stride: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(image ids, their cell counts, patch ids, float32 vectors) in chunks of at most
    READ_PATCHES patches; images without patches are skipped."""
    got: list[int] = []
    counts: list[int] = []
    arrays: list[np.ndarray] = []
    for image_id in image_ids:
        arr = store.get(int(image_id))
        if arr is None or arr.ndim != 3 or arr.shape[2] != dim or arr.shape[0] * arr.shape[1] > stride:
            log.warning("patch_index.missing_patches image=%d", int(image_id))
            continue
        got.append(int(image_id))
        counts.append(int(arr.shape[0] * arr.shape[1]))
        arrays.append(arr.reshape(-1, dim))
        if sum(counts) >= READ_PATCHES:
            yield _chunk(got, counts, arrays, stride)
            got, counts, arrays = [], [], []
    if got:
        yield _chunk(got, counts, arrays, stride)


def _chunk(
    got: list[int], counts: list[int], arrays: list[np.ndarray], stride: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ids = np.asarray(got, dtype=np.int64)
    cells = np.asarray(counts, dtype=np.int64)
    return ids, cells, image_patch_ids(ids, cells, stride), np.vstack(arrays).astype(np.float32)


def _new_index(
    settings: Settings, store: PatchStore, image_ids: np.ndarray, cells: int, dim: int
) -> tuple[faiss.Index, int]:
    """An empty index for `image_ids` (about `cells` patches each): exact when small, else
    trained on a sample of them."""
    total = len(image_ids) * cells
    if total < settings.patch_index_min_train:
        return new_exact_index(dim), 0
    nlist = choose_nlist(total)
    # Enough images for the coarse k-means (FAISS samples 256 points per centroid at most).
    want_images = max(1, min(len(image_ids), (256 * nlist) // cells + 1))
    rng = np.random.default_rng(0)
    sample_ids = np.sort(rng.choice(image_ids, size=want_images, replace=False))
    sample = np.vstack([vecs for _, _, _, vecs in _read_patches(store, sample_ids, dim, MAX_CELLS)])
    nlist = min(nlist, choose_nlist(len(sample)))
    log.info(
        "patch_index.training nlist=%d sample=%d pq_bytes=%d", nlist, len(sample), settings.patch_pq_bytes
    )
    return train_compressed_index(sample, pq_bytes=settings.patch_pq_bytes, nlist=nlist), total


def update_patch_index(
    settings: Settings,
    session: Session,
    model: ModelId,
    dim: int,
    cls_generation: int | None,
    *,
    members: list[tuple[int, str, int | None, int | None]] | None = None,
    labels: list[str] | None = None,
    refresh: list[int] | None = None,
    enriching: int = 0,
) -> PatchIndexResult:
    """Bring the patch index in line with the catalog; publish a generation if anything changed.

    Call with the index writer's lock held, before embedded images are marked indexed.
    `members` ((id, status, grid_h, grid_w) of each image) replaces the catalog's searchable
    images of `model`, for a generation built before it is served (`pixseek reindex`); the
    index is then built afresh. `labels`: the `images.model` values that count as `model`
    (around a switch, its pair too; default: its own key). `refresh`: ids whose patch files
    were rewritten while their image stayed searchable (the enrich job's whole-picture grids),
    read again like re-embedded ones; `enriching`: how many images the caller marks enriched
    once this is published (not counted as pending in the manifest's coverage).
    """
    patch_store = PatchStore(settings.patch_dir)
    mode = store_patch_mode(settings.patch_dir) or effective_patch_mode(settings)
    found = (
        members
        if members is not None
        else session.execute(
            select(Image.id, Image.status, Image.grid_h, Image.grid_w).where(
                Image.status.in_(list(SEARCHABLE)), Image.model.in_(labels or [model.key])
            )
        ).all()
    )
    rows: list[tuple[int, str, int, int]] = [
        (int(i), str(status), int(gh), int(gw)) for i, status, gh, gw in found if gh and gw
    ]
    store = patch_index_store(settings)
    loaded = store.load()
    # Grids differ per image (patches cover each picture whole); the manifest names the
    # largest. With nothing searchable, the old one is kept.
    grids = {(gh, gw) for _, _, gh, gw in rows}
    grid: tuple[int, int] = (0, 0)
    if grids:
        grid = max(grids, key=lambda g: (g[0] * g[1], g))
    elif loaded is not None:
        grid = loaded.manifest.grid
    searchable = np.asarray(sorted(i for i, _, _, _ in rows), dtype=np.int64)
    embedded = np.asarray(
        sorted(i for i, status, _, _ in rows if status == ImageStatus.EMBEDDED), dtype=np.int64
    )
    if refresh:
        embedded = np.union1d(embedded, np.intersect1d(np.asarray(refresh, dtype=np.int64), searchable))
    total_cells = sum(gh * gw for _, _, gh, gw in rows)
    manifest_then = loaded.manifest if loaded is not None else None
    fresh = (
        members is not None
        or manifest_then is None
        or (
            (manifest_then.model_id, manifest_then.dim, manifest_then.patch_mode, manifest_then.cell_stride)
            != (model, dim, mode, MAX_CELLS)
        )
    )
    if not fresh:
        assert loaded is not None
        grown = loaded.manifest.trained_on and total_cells >= RETRAIN_GROWTH * loaded.manifest.trained_on
        crossed = loaded.manifest.index_type == EXACT_TYPE and total_cells >= settings.patch_index_min_train
        if grown or crossed:
            log.info("patch_index.rebuild reason=%s", "grown" if grown else "threshold")
            fresh = True
    if fresh:
        if loaded is not None and grid != (0, 0):
            log.info("patch_index.rebuilding old=%s new=%s/%s", loaded.manifest.model_id, model, mode)
        mean_cells = max(1, total_cells // max(1, len(rows)))
        index, trained_on = _new_index(settings, patch_store, searchable, mean_cells, dim)
        present, present_cells = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        to_add = searchable
    else:
        assert loaded is not None
        index, trained_on = loaded.index, loaded.manifest.trained_on
        present, present_cells = loaded.images, loaded.cells
        to_add = np.union1d(embedded, np.setdiff1d(searchable, present))
    stale = np.setdiff1d(present, searchable)
    to_remove = np.union1d(stale, np.intersect1d(present, embedded))
    if to_remove.size:
        assert loaded is not None
        index.remove_ids(faiss.IDSelectorBatch(loaded.patch_ids(to_remove)))
    keep = ~np.isin(present, to_remove)
    held, held_cells = [present[keep]], [present_cells[keep]]
    added = 0
    for image_ids, cells, ids, vectors in _read_patches(patch_store, to_add, dim, MAX_CELLS):
        index.add_with_ids(vectors, ids)
        held.append(image_ids)
        held_cells.append(cells)
        added += len(image_ids)
    now_present, now_cells = np.concatenate(held), np.concatenate(held_cells)
    order = np.argsort(now_present, kind="stable")
    now_present, now_cells = now_present[order], now_cells[order]
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
            cell_stride=MAX_CELLS,
            coverage=patch_coverage(session, labels or [model.key], enriching=enriching),
        )
        generation = store.publish(index, now_present, manifest, now_cells)
    return PatchIndexResult(
        generation=generation,
        images=len(now_present),
        patches=int(index.ntotal),
        added=added,
        removed=len(stale),
        index_type=index_type(index),
    )
