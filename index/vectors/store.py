"""FAISS index generations on disk: atomic publication, and a holder that hot-swaps them.

Layout under the index folder:

    current.json         {"generation": N}  (replaced atomically: readers never see a partial write)
    gen-00000N/          cls.faiss + manifest.json, written in a temp folder then renamed
    .lock                held by the one writer that builds the next generation

A reader loads `current.json`, then the generation it names. Old generations stay on disk
until two newer ones exist, so a reader that has just read `current.json` still finds its files.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from pixseek.core.locks import file_lock
from pixseek.index.vectors.factory import (
    apply_params,
    faiss_gpu_count,
    mmap_flags,
    single_query_threads,
    stored_ids,
    to_gpu,
)
from pixseek.index.vectors.generations import GenerationFolder, GenerationHolder
from pixseek.index.vectors.manifest import MANIFEST_FILE, Manifest

log = logging.getLogger(__name__)

INDEX_FILE = "cls.faiss"
# Serving processes map index files at least this large instead of reading them (see load).
MMAP_MIN_BYTES = 256 * 1024 * 1024


@dataclass
class LoadedIndex:
    index: faiss.Index
    manifest: Manifest
    # A copy on the GPU when PIXSEEK_DEVICE asks for CUDA and FAISS has a GPU; the CPU index
    # stays for searches the GPU index cannot run (id selectors, used by filters).
    gpu_index: faiss.Index | None = None
    mmapped: bool = False

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def search(
        self, query: np.ndarray, k: int, params: faiss.SearchParameters | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of the top `k` for each query row, on the GPU when it can."""
        if self.gpu_index is not None and params is None:
            return self.gpu_index.search(query, k)
        if len(query) == 1:
            single_query_threads()
        return self.index.search(query, k, params=params)


def index_ids(index: faiss.Index) -> np.ndarray:
    """The ids held by an index (exact or IVF), as int64."""
    return stored_ids(index)


class IndexStore(GenerationFolder):
    """Reads and writes CLS index generations in one folder."""

    def load(
        self, generation: int | None = None, *, mmap: bool | None = False, device: str = "cpu"
    ) -> LoadedIndex | None:
        """The named (default: current) generation, or None when nothing was published.

        Args:
            generation: which generation; the current one by default.
            mmap: map the index file read-only instead of reading it into memory; `None`
                decides by size (files of `MMAP_MIN_BYTES` or more). A mapped index costs
                page cache, not private memory: the pages are shared by every process
                serving the same generation and the kernel can drop them under pressure.
                Writers must load with `mmap=False` (a mapped index is read-only).
            device: `cuda` (or `auto` on a machine with a GPU) adds a GPU copy of the index
                for unfiltered searches.
        """
        if generation is None:
            generation = self.current_generation()
            if generation is None:
                return None
        folder = self.generation_dir(generation)
        manifest = Manifest.read(folder / MANIFEST_FILE)
        path = folder / INDEX_FILE
        if mmap is None:
            mmap = path.stat().st_size >= MMAP_MIN_BYTES
        index = faiss.read_index(str(path), mmap_flags(manifest.params) if mmap else 0)
        apply_params(index, manifest.params)
        use_gpu = device == "cuda" or (device == "auto" and faiss_gpu_count() > 0)
        gpu_index = to_gpu(index, manifest.params) if use_gpu else None
        return LoadedIndex(index=index, manifest=manifest, gpu_index=gpu_index, mmapped=bool(mmap))

    def manifest(self) -> Manifest | None:
        """The current generation's manifest (nothing else is read), or None before the first."""
        generation = self.current_generation()
        if generation is None:
            return None
        return Manifest.read(self.generation_dir(generation) / MANIFEST_FILE)

    def publish(self, index: faiss.Index, manifest: Manifest) -> int:
        """Write `index` as the next generation and make it current. Caller holds `lock()`."""

        def write(folder: Path, generation: int) -> list[str]:
            manifest.generation = generation
            manifest.count = int(index.ntotal)
            faiss.write_index(index, str(folder / INDEX_FILE))
            (folder / MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")
            return [INDEX_FILE, MANIFEST_FILE]

        generation = self.publish_generation(write)
        log.info("index.published generation=%d count=%d", generation, manifest.count)
        return generation

    def lock(self) -> AbstractContextManager[None]:
        """Exclusive right to publish the next generation (one writer at a time)."""
        return file_lock(self.root / ".lock")


class IndexHolder(GenerationHolder[LoadedIndex]):
    """The CLS index a long-running reader serves, swapped when a new generation appears."""

    def __init__(
        self,
        store: IndexStore,
        *,
        check_interval: float = 0.5,
        mmap: bool | None = None,
        device: str = "cpu",
    ) -> None:
        self.store = store
        super().__init__(
            store,
            lambda generation: store.load(generation, mmap=mmap, device=device),
            lambda loaded: loaded.manifest.generation,
            check_interval=check_interval,
            event="index",
        )
