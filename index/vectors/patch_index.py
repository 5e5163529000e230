"""The patch index: every patch of every image in one FAISS index, compressed once it is big.

Ids encode where a patch comes from: `image_id * stride + cell`, where `cell = row * grid_w +
col` in the image's own grid (grids vary with the picture's shape since patches cover the
whole picture) and `stride` is a fixed `MAX_CELLS` (4096) slots per image, recorded in
the manifest. Indexes from before had one grid for all images and `stride = grid_h * grid_w`.
A hit maps back to (image, cell) with no lookup table.

Two shapes, chosen by size:
- below `patch_index_min_train` patches, an exact fp16 flat index (`IDMap2,SQfp16`): the
  patch store keeps fp16 vectors, so this loses nothing and halves a float32 flat index;
- from there on, `IVF{nlist},PQ{m}`: m bytes per patch plus FAISS's 8-byte id in the
  inverted lists. For ViT-B/32 (49 patches, dim 512) at m=32 that is 49 * 40 = 1,960
  bytes per image, plus the coarse centroids shared by all images.

OPQ would buy a few points of candidate recall at the same size, but training it took
over ten times as long as training IVF-PQ itself (20k vectors of dim 64: 356 s against 30 s
on the shared CI machine); the exact re-scoring below makes up the gap.

The compressed index only proposes candidates: region search re-scores the candidate
images exactly on their stored fp16 patches, so the compression costs recall of the
candidate list, never the accuracy of the scores shown.

Layout under `<index_dir>/patches/`, written like the CLS index (temp folder, rename,
then `current.json`): `gen-0000000N/{patches.faiss, images.npy, manifest.json}`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from pixseek.index.vectors.generations import GenerationFolder, GenerationHolder
from pixseek.index.vectors.manifest import EXACT_TYPE, MANIFEST_FILE, PatchManifest

log = logging.getLogger(__name__)

INDEX_FILE = "patches.faiss"
IMAGES_FILE = "images.npy"
CELLS_FILE = "cells.npy"  # cells per image, parallel to images.npy
# FAISS warns below 39 training points per centroid; k-means is unreliable under that.
MIN_POINTS_PER_CENTROID = 39
# Retrain the quantisers once the index has grown this much past what they were trained on.
RETRAIN_GROWTH = 8


# --- ids ---------------------------------------------------------------------------------


def patch_ids(image_ids: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """All patch ids of `image_ids`, image-major then row-major: shape (n * cells,)."""
    cells = grid[0] * grid[1]
    base = np.asarray(image_ids, dtype=np.int64)[:, None] * cells
    return (base + np.arange(cells, dtype=np.int64)[None, :]).reshape(-1)


def image_patch_ids(image_ids: np.ndarray, cells: np.ndarray, stride: int) -> np.ndarray:
    """All patch ids of images with `cells[i]` cells each, image-major: `id * stride + cell`."""
    image_ids = np.asarray(image_ids, dtype=np.int64)
    cells = np.asarray(cells, dtype=np.int64)
    if not len(image_ids):
        return np.empty(0, dtype=np.int64)
    if (cells > stride).any():
        raise ValueError(f"an image has more than {stride} patch cells")
    starts = np.repeat(image_ids * stride, cells)
    offsets = np.arange(int(cells.sum()), dtype=np.int64) - np.repeat(np.cumsum(cells) - cells, cells)
    result: np.ndarray = starts + offsets
    return result


def split_ids(ids: np.ndarray, grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image_id, row, col) arrays of patch ids."""
    ids = np.asarray(ids, dtype=np.int64)
    cells = grid[0] * grid[1]
    image, cell = np.divmod(ids, cells)
    row, col = np.divmod(cell, grid[1])
    return image, row, col


# --- index shapes ------------------------------------------------------------------------


def choose_pq_m(dim: int, pq_bytes: int) -> int:
    """The largest number of 1-byte sub-quantisers <= pq_bytes that divides dim.

    Sub-vectors keep at least 4 dimensions: FAISS trains 2-dimensional ones without BLAS,
    some 30 times slower, for codes that gain little.
    """
    for m in range(max(1, min(pq_bytes, dim // 4)), 0, -1):
        if dim % m == 0:
            return m
    return 1


def choose_nlist(n_vectors: int) -> int:
    """About 4 * sqrt(n) inverted lists (a power of two), with enough points to train them."""
    target = 4 * math.sqrt(max(n_vectors, 1))
    nlist = 2 ** round(math.log2(max(target, 1)))
    nlist = min(nlist, max(1, n_vectors // MIN_POINTS_PER_CENTROID), 65_536)
    return max(1, 2 ** int(math.log2(nlist)))


def new_exact_index(dim: int) -> faiss.Index:
    return faiss.IndexIDMap2(
        faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    )


def train_compressed_index(sample: np.ndarray, *, pq_bytes: int, nlist: int) -> faiss.Index:
    """An empty IVF-PQ index trained on `sample` (n, dim) float32 unit vectors.

    PQ codes the residual to the nearest coarse centroid (more precise than coding the
    vector itself); with 8-bit codes, m sub-quantisers mean m bytes per patch.
    """
    n, dim = sample.shape
    if n < MIN_POINTS_PER_CENTROID * nlist:
        raise ValueError(f"{n} training vectors are too few for {nlist} lists")
    m = choose_pq_m(dim, pq_bytes)
    # Typed Any: FAISS's stubs omit most attributes of its SWIG classes.
    index: Any = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
    # Polysemous training reorders codes for Hamming pre-filtering, which we never use; it
    # costs more than the rest of training together.
    index.do_polysemous_training = False
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
    return index


def index_type(index: faiss.Index) -> str:
    ivf = _ivf(index)
    if ivf is None:
        return EXACT_TYPE
    pq: Any = faiss.downcast_index(ivf)
    return f"IVF{ivf.nlist},PQ{pq.pq.M}"


def _ivf(index: faiss.Index) -> faiss.IndexIVF | None:
    try:
        return faiss.extract_index_ivf(index)
    except RuntimeError:
        return None


def search_index(
    index: faiss.Index, queries: np.ndarray, k: int, *, nprobe: int, sel: faiss.IDSelector | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (scores, ids) per query; `nprobe` lists are visited on a compressed index.

    nprobe goes in per-call parameters, not on the shared index object, so concurrent
    searches with different settings do not race.
    """
    q = np.ascontiguousarray(queries, dtype=np.float32)
    params: Any = None
    if _ivf(index) is not None:
        params = faiss.SearchParametersIVF()
        params.nprobe = nprobe
        if sel is not None:
            params.sel = sel
    elif sel is not None:
        params = faiss.SearchParameters()
        params.sel = sel
    k = max(1, min(k, int(index.ntotal)))
    scores, ids = index.search(q, k, params=params)
    return scores, ids


def build_index(
    vectors: np.ndarray, ids: np.ndarray, *, min_train: int, pq_bytes: int, max_train: int = 131_072
) -> faiss.Index:
    """An index over (vectors, ids): exact below `min_train` vectors, else trained IVF-PQ."""
    n, dim = vectors.shape
    if n < min_train:
        index = new_exact_index(dim)
    else:
        nlist = choose_nlist(n)
        rng = np.random.default_rng(0)
        take = rng.choice(n, size=min(n, max_train), replace=False) if n > max_train else np.arange(n)
        index = train_compressed_index(vectors[np.sort(take)], pq_bytes=pq_bytes, nlist=nlist)
    if n:
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
    return index


# --- persistence -------------------------------------------------------------------------


@dataclass
class LoadedPatchIndex:
    index: faiss.Index
    images: np.ndarray  # sorted image ids present
    manifest: PatchManifest
    cells: np.ndarray  # patch cells of each image in `images`

    def cells_of(self, image_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the image ids the index holds among `image_ids`, their cell counts)."""
        image_ids = np.asarray(image_ids, dtype=np.int64)
        if not len(self.images):
            return image_ids[:0], np.empty(0, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.images, image_ids), len(self.images) - 1)
        held = self.images[pos] == image_ids
        return image_ids[held], self.cells[pos[held]]

    def patch_ids(self, image_ids: np.ndarray) -> np.ndarray:
        """Every patch id the index holds for `image_ids`."""
        held, cells = self.cells_of(image_ids)
        return image_patch_ids(held, cells, self.manifest.stride)


class PatchIndexStore(GenerationFolder):
    """Generations of the patch index in one folder; the CLS index writer's lock guards writes."""

    def load(self, generation: int | None = None, *, mmap: bool = False) -> LoadedPatchIndex | None:
        if generation is None:
            generation = self.current_generation()
            if generation is None:
                return None
        folder = self.generation_dir(generation)
        manifest = PatchManifest.read(folder / MANIFEST_FILE)
        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
        index = faiss.read_index(str(folder / INDEX_FILE), flags)
        images = np.load(folder / IMAGES_FILE, allow_pickle=False)
        if (folder / CELLS_FILE).is_file():
            cells = np.load(folder / CELLS_FILE, allow_pickle=False)
        else:  # a generation from before grids varied: one grid for every image
            cells = np.full(len(images), manifest.grid_h * manifest.grid_w, dtype=np.int64)
        return LoadedPatchIndex(index=index, images=images, manifest=manifest, cells=cells)

    def publish(
        self, index: faiss.Index, images: np.ndarray, manifest: PatchManifest, cells: np.ndarray | None = None
    ) -> int:
        """Write the next generation and make it current; the caller holds the writer lock.

        `cells`: each image's patch count (default: the manifest's grid for every image).
        """
        if cells is None:
            cells = np.full(len(images), manifest.grid_h * manifest.grid_w, dtype=np.int64)

        def write(folder: Path, generation: int) -> list[str]:
            manifest.generation = generation
            manifest.count = int(index.ntotal)
            manifest.images = len(images)
            manifest.index_type = index_type(index)
            faiss.write_index(index, str(folder / INDEX_FILE))
            np.save(folder / IMAGES_FILE, np.asarray(images, dtype=np.int64), allow_pickle=False)
            np.save(folder / CELLS_FILE, np.asarray(cells, dtype=np.int64), allow_pickle=False)
            (folder / MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")
            return [INDEX_FILE, IMAGES_FILE, CELLS_FILE, MANIFEST_FILE]

        generation = self.publish_generation(write)
        log.info(
            "patch_index.published generation=%d patches=%d images=%d type=%s",
            generation,
            manifest.count,
            manifest.images,
            manifest.index_type,
        )
        return generation


class PatchIndexHolder(GenerationHolder[LoadedPatchIndex]):
    """The patch index a long-running reader serves, swapped when a new generation appears."""

    def __init__(self, store: PatchIndexStore, *, check_interval: float = 0.5) -> None:
        self.store = store
        super().__init__(
            store,
            store.load,
            lambda loaded: loaded.manifest.generation,
            check_interval=check_interval,
            event="patch_index",
        )
