"""Which FAISS index a collection gets, how it is built and tuned, and how it is searched.

The rules, by the number of vectors `n` (all inner product on unit vectors):

* `n < flat_max` (default 50,000): exact search, `IDMap2,Flat`. A scan of 50k x 512 floats
  takes a few milliseconds, and exact needs no training and no tuning.
* otherwise `IVF{nlist},SQ8`: an inverted file of `nlist ~ 2 sqrt(n)` lists (a power of
  two) whose codes are 8-bit scalar-quantised (a quarter of the float32 size, 512 bytes a
  vector at dim 512). Below `HNSW_QUANTIZER_MIN_LISTS` lists the coarse quantiser is exact
  (scanning 2,048 centroids costs ~0.1 ms); above it, an HNSW graph over the centroids
  keeps that step logarithmic. `nprobe` is tuned after every build to the smallest value
  whose recall@10 against exact search reaches `RECALL_TARGET` on held-out queries, and
  recorded in the manifest with the recall it measured.

Filtered searches (`filtered_search_params`) restrict the index to the allowed ids with a
selector; on IVF they scan every list for filters keeping up to 20% of the collection and
raise nprobe by 3/f above (f the fraction kept).

An IVF index is rebuilt (retrained) when the collection has grown `REBUILD_GROWTH` times
past the size it was trained on, and the index goes back to exact when the collection
shrinks below half of `flat_max`. IVF indexes carry their ids themselves and support
`remove_ids`, so the writer's incremental add/remove works on both kinds.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np

log = logging.getLogger(__name__)

FLAT = "IDMap2,Flat"
FLAT_MAX = 50_000
RECALL_TARGET = 0.95
# Tune for a little more than the target: the tuning queries are a sample.
RECALL_MARGIN = 0.02
REBUILD_GROWTH = 4.0
HNSW_QUANTIZER_MIN_LISTS = 8192
HNSW_M = 32
HNSW_EF_SEARCH = 128
# k-means: 50 training points a list is enough for stable centroids (FAISS warns below 39);
# 10 iterations reach most of the gain of FAISS's default 25 at 40% of the time.
TRAIN_POINTS_PER_LIST = 50
KMEANS_ITERATIONS = 10
TUNE_QUERIES = 300
# Rows per numpy matmul block: 20k x 2k centroids of float32 scores is 160 MB at most.
ASSIGN_BLOCK = 20_000
ADD_BLOCK = 100_000
TUNE_K = 10
SEED = 1234
# Filtered IVF search (`filtered_nprobe`). A filter keeping a fraction f leaves f times fewer
# allowed vectors in the probed lists, so nprobe grows by FILTER_PROBE_GAIN / f. Filters that
# keep one region of the space (a bucket of one kind of photo) need more than 1 / f when the
# query lies outside it: in development trials 1 / f fell to recall@10 0.955 at 50% on 1M
# vectors, and 2 / f to 0.950 on the 20k index of tests/search/test_filtered_recall.py
# (nprobe 4); 3 / f keeps a margin. No gain rescues a filter keeping one big theme when it
# keeps little: its answer sits in lists the query ranks last (bench.search_filters at 1M,
# 10%: 0.48 with 3 / f, 480 lists; 0.97 with all 2,048). Filters keeping at most
# EXHAUSTIVE_FRACTION therefore scan every list, scoring each allowed vector's code.
FILTER_PROBE_GAIN = 3.0
EXHAUSTIVE_FRACTION = 0.2
# An id selector is a bitmap while that costs at most this many bytes per allowed id.
BITMAP_BYTES_PER_ID = 32


@dataclass(frozen=True)
class IndexPlan:
    """What to build for a collection: `FLAT` or an IVF layout."""

    kind: str  # "flat" or "ivf"
    nlist: int = 0
    hnsw_quantizer: bool = False

    @property
    def description(self) -> str:
        if self.kind == "flat":
            return FLAT
        quantizer = f"_HNSW{HNSW_M}" if self.hnsw_quantizer else ""
        return f"IVF{self.nlist}{quantizer},SQ8"


def nlist_for(n: int) -> int:
    """Inverted lists for `n` vectors: the power of two nearest 2 sqrt(n), at least 64."""
    target = 2.0 * math.sqrt(max(n, 1))
    return max(64, 2 ** round(math.log2(target)))


def plan_for(n: int, *, flat_max: int = FLAT_MAX) -> IndexPlan:
    """The index layout for a collection of `n` vectors."""
    if n < flat_max:
        return IndexPlan("flat")
    # Tiny collections (only when flat_max is set very low) still get >= 4 vectors a list.
    nlist = max(1, min(nlist_for(n), n // 4))
    return IndexPlan("ivf", nlist=nlist, hnsw_quantizer=nlist >= HNSW_QUANTIZER_MIN_LISTS)


def needs_rebuild(params: dict[str, Any], n: int, *, flat_max: int = FLAT_MAX) -> bool:
    """True when an index built with manifest `params` no longer suits `n` vectors.

    Flat grows into IVF at `flat_max`; IVF is retrained once the collection is
    `REBUILD_GROWTH` times the size it was trained on (lists grow long and slow), and falls
    back to exact below `flat_max / 2` (the gap avoids flapping around one size).
    """
    kind = params.get("kind", "flat")
    if kind == "flat":
        return n >= flat_max
    trained_on = int(params.get("trained_on", 0))
    return n < flat_max // 2 or n > REBUILD_GROWTH * max(trained_on, 1)


def _new_ivf(plan: IndexPlan, dim: int) -> faiss.IndexIVF:
    quantizer: faiss.Index
    if plan.hnsw_quantizer:
        quantizer = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        quantizer.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFScalarQuantizer(
        quantizer, dim, plan.nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    # FAISS's Python constructor keeps `quantizer` alive as long as `index`; once written
    # and read back, the index owns its quantiser. Training is done by `build_index`.
    return index


def build_index(
    vectors: np.ndarray, ids: np.ndarray, *, flat_max: int = FLAT_MAX
) -> tuple[faiss.Index, dict[str, Any]]:
    """An index over unit `vectors` (n, d) float32 addressed by `ids`, and its manifest params.

    Args:
        vectors: the collection, one unit row per image.
        ids: int64 catalog ids, one per row.
        flat_max: collections at least this large get an IVF index.

    Returns:
        The index and the parameters to record in the manifest (`kind`, `nlist`, `nprobe`,
        `trained_on`, `recall_at_10` measured at tuning).

    Raises:
        ValueError: shapes that disagree.

    Example:
        >>> index, params = build_index(x, np.arange(len(x)))
        >>> params["kind"]
        'flat'
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if vectors.ndim != 2 or len(vectors) != len(ids):
        raise ValueError(f"vectors {vectors.shape} and ids {ids.shape} disagree")
    n, dim = vectors.shape
    plan = plan_for(n, flat_max=flat_max)
    if plan.kind == "flat":
        flat = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        if n:
            flat.add_with_ids(vectors, ids)
        return flat, {"kind": "flat"}
    index = _new_ivf(plan, dim)
    rng = np.random.default_rng(SEED)
    n_train = min(n, TRAIN_POINTS_PER_LIST * plan.nlist)
    # A random sample, copied: k-means reads it many times and must not see a strided view.
    sample = vectors[np.sort(rng.choice(n, size=n_train, replace=False))] if n_train < n else vectors
    centroids = spherical_kmeans(sample, plan.nlist, KMEANS_ITERATIONS, rng)
    index.quantizer.add(centroids)
    # With the quantiser already holding nlist centroids, FAISS skips its own k-means and
    # only fits the scalar quantiser's per-dimension ranges.
    index.train(sample)
    del sample
    add_vectors(index, vectors, ids)
    nprobe, recall = tune_nprobe(index, vectors, ids, rng)
    index.nprobe = nprobe
    params = {
        "kind": "ivf",
        "description": plan.description,
        "nlist": plan.nlist,
        "nprobe": nprobe,
        "quantizer": "hnsw" if plan.hnsw_quantizer else "flat",
        "ef_search": HNSW_EF_SEARCH if plan.hnsw_quantizer else None,
        "trained_on": n,
        "recall_at_10": round(recall, 4),
        "recall_target": RECALL_TARGET,
    }
    log.info("index.built %s n=%d nprobe=%d recall@10=%.3f", plan.description, n, nprobe, recall)
    return index, params


def _tuning_queries(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Held-out-like queries: sampled vectors moved off themselves, so none is its own answer.

    Half are moved a little (cosine ~0.9 to their source, like another shot of a scene), half
    a lot (cosine ~0.7, like a query that matches a theme but no image closely): far queries
    have their neighbours spread over more lists and need a larger nprobe.
    """
    n, dim = vectors.shape
    picks = rng.choice(n, size=min(TUNE_QUERIES, n), replace=False)
    spread = np.where(np.arange(len(picks)) % 2 == 0, 0.5, 1.0).astype(np.float32)[:, None]
    noise = rng.standard_normal((len(picks), dim)).astype(np.float32) * (spread / np.float32(math.sqrt(dim)))
    queries = np.asarray(vectors[picks], dtype=np.float32) + noise
    faiss.normalize_L2(queries)
    return queries


def _top_k_exact(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Row positions of the exact top-k inner products, by numpy matmul in blocks.

    numpy's BLAS runs 4-8x faster than the BLAS FAISS's wheel links on this machine, and
    blocks of `ASSIGN_BLOCK` rows keep the score matrix small (queries x block floats).
    """
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.full((len(queries), k), -1, dtype=np.int64)
    for start in range(0, len(base), ASSIGN_BLOCK):
        block = np.asarray(base[start : start + ASSIGN_BLOCK], dtype=np.float32)
        scores = queries @ block.T
        kk = min(k, scores.shape[1])
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        cand_s = np.concatenate([best_s, np.take_along_axis(scores, part, axis=1)], axis=1)
        cand_i = np.concatenate([best_i, part + start], axis=1)
        order = np.argsort(-cand_s, axis=1)[:, :k]
        best_s = np.take_along_axis(cand_s, order, axis=1)
        best_i = np.take_along_axis(cand_i, order, axis=1)
    return best_i


def _nearest_centroid(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """For each row of `x`, the index of the centroid with the largest inner product."""
    out = np.empty(len(x), dtype=np.int64)
    for start in range(0, len(x), ASSIGN_BLOCK):
        block = np.asarray(x[start : start + ASSIGN_BLOCK], dtype=np.float32)
        out[start : start + len(block)] = (block @ centroids.T).argmax(axis=1)
    return out


def spherical_kmeans(x: np.ndarray, k: int, iterations: int, rng: np.random.Generator) -> np.ndarray:
    """k unit centroids for unit rows `x`, as FAISS trains an inner-product IVF (spherical).

    Written on numpy rather than `faiss.Kmeans` for speed (see `_top_k_exact`). Empty
    clusters are re-seeded with random points, as FAISS splits them.
    """
    if len(x) < k:
        raise ValueError(f"{len(x)} training points for {k} centroids")
    centroids = np.array(x[rng.choice(len(x), size=k, replace=False)], dtype=np.float32)
    dim = x.shape[1]
    for _ in range(iterations):
        assign = _nearest_centroid(x, centroids)
        order = np.argsort(assign, kind="stable")
        counts = np.bincount(assign, minlength=k)
        sums = np.zeros((k, dim), dtype=np.float32)
        nonempty = np.flatnonzero(counts)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[nonempty]
        sums[nonempty] = np.add.reduceat(x[order], starts, axis=0)
        empty = counts == 0
        if empty.any():
            sums[empty] = x[rng.choice(len(x), size=int(empty.sum()), replace=False)]
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        centroids = sums / np.maximum(norms, np.float32(1e-12))
    return np.ascontiguousarray(centroids, dtype=np.float32)


def add_vectors(index: faiss.Index, vectors: np.ndarray, ids: np.ndarray) -> None:
    """Add unit rows under `ids` to a flat or IVF index (IVF: list assignment on numpy)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if not len(ids):
        return
    if isinstance(index, faiss.IndexIDMap2 | faiss.IndexIDMap):
        index.add_with_ids(vectors, ids)
        return
    ivf = faiss.extract_index_ivf(index)
    centroids = ivf.quantizer.reconstruct_n(0, ivf.nlist)
    for start in range(0, len(ids), ADD_BLOCK):
        x = vectors[start : start + ADD_BLOCK]
        lists = _nearest_centroid(x, centroids)
        # add_core takes precomputed list numbers: FAISS then only encodes and appends.
        ivf.add_core(
            len(x), faiss.swig_ptr(x), faiss.swig_ptr(ids[start : start + ADD_BLOCK]), faiss.swig_ptr(lists)
        )


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of the true top-k ids found in the returned top-k (rows are queries)."""
    hits = sum(len(np.intersect1d(f[f >= 0], t[t >= 0])) for f, t in zip(found, truth, strict=True))
    return hits / max(1, int((truth >= 0).sum()))


def tune_nprobe(
    index: faiss.IndexIVF, vectors: np.ndarray, ids: np.ndarray, rng: np.random.Generator
) -> tuple[int, float]:
    """The smallest power-of-two nprobe reaching the recall target, and the recall it gives."""
    queries = _tuning_queries(vectors, rng)
    truth_ids = ids[_top_k_exact(vectors, queries, TUNE_K)]
    nprobe, recall = 1, 0.0
    while True:
        index.nprobe = nprobe
        _, found = index.search(queries, TUNE_K)
        recall = recall_at_k(found, truth_ids)
        if recall >= RECALL_TARGET + RECALL_MARGIN or nprobe >= index.nlist:
            return nprobe, recall
        nprobe = min(nprobe * 2, index.nlist)


def stored_ids(index: faiss.Index) -> np.ndarray:
    """Every id an index holds (IDMap2 or IVF), as int64, in no particular order."""
    if isinstance(index, faiss.IndexIDMap2 | faiss.IndexIDMap):
        return faiss.vector_to_array(index.id_map).astype(np.int64, copy=False)
    ivf = faiss.extract_index_ivf(index)
    invlists = ivf.invlists
    assert invlists is not None, "an IVF index always has inverted lists"
    parts = []
    for list_no in range(ivf.nlist):
        size = invlists.list_size(list_no)
        if size:
            ptr = invlists.get_ids(list_no)
            parts.append(faiss.rev_swig_ptr(ptr, size).copy())
            invlists.release_ids(list_no, ptr)  # type: ignore[attr-defined]
    if not parts:
        return np.empty(0, dtype=np.int64)
    return np.concatenate(parts).astype(np.int64, copy=False)


def _inner(index: faiss.Index) -> faiss.Index:
    """The index under an id map, downcast to its own type."""
    inner = faiss.downcast_index(index)
    if isinstance(inner, faiss.IndexIDMap | faiss.IndexIDMap2):
        inner = faiss.downcast_index(inner.index)
    return inner


def filtered_nprobe(nprobe: int, nlist: int, fraction: float) -> int:
    """The nprobe for a filter keeping `fraction` of an IVF index whose own nprobe is `nprobe`.

    Every list up to `EXHAUSTIVE_FRACTION` (an exhaustive scan of the allowed vectors'
    codes), above it `FILTER_PROBE_GAIN / fraction` times the index's nprobe.
    """
    if fraction <= EXHAUSTIVE_FRACTION:
        return nlist
    return min(nlist, max(nprobe, math.ceil(FILTER_PROBE_GAIN * nprobe / fraction)))


def id_selector(allowed: np.ndarray) -> tuple[faiss.IDSelector, np.ndarray | None]:
    """A FAISS selector of the `allowed` ids, and the bitmap it reads (None for a hash set).

    Memory: a bitmap costs (max id + 1) / 8 bytes (plus a transient bool array of max id + 1
    bytes while it is packed) and builds in ~1 ms for 500k ids; `IDSelectorBatch` copies the
    ids into a hash set (tens of bytes an id) and took 52 ms for 500k ids. The bitmap is used
    while it is at most `BITMAP_BYTES_PER_ID` bytes per allowed id, so sparse ids (a few
    allowed among large ids) still get the hash set. The caller keeps the bitmap alive as
    long as the selector: FAISS holds only a raw pointer to it.
    """
    allowed = np.ascontiguousarray(allowed, dtype=np.int64)
    if allowed.size and allowed.min() < 0:
        raise ValueError("ids are non-negative")
    top = int(allowed.max()) if allowed.size else 0
    if top // 8 + 1 > BITMAP_BYTES_PER_ID * allowed.size:
        return faiss.IDSelectorBatch(allowed), None
    bits = np.zeros(top + 1, dtype=bool)
    bits[allowed] = True
    bitmap = np.packbits(bits, bitorder="little")  # bit i of byte i // 8 is id i, as FAISS reads it
    del bits
    return faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap)), bitmap


def filtered_search_params(index: faiss.Index, allowed: np.ndarray) -> faiss.SearchParameters:
    """Search parameters restricting `index` to the `allowed` ids, with recall kept.

    An exact index scores every allowed vector, so its top-k among them is exact. An IVF
    index probes `filtered_nprobe` lists instead of its own nprobe: every list for filters
    keeping up to 20%, 3/f times its nprobe above. That kept recall@10 >= 0.95
    against exact filtered search from 0.1% to 50% selectivity on 1M vectors, for random
    filters and for filters that keep a region of the space (docs/benchmarks.md, "Search
    filters"). HNSW (not built by `build_index`) keeps its own efSearch.

    Args:
        index: a flat or IVF index (maybe id-mapped), or HNSW, with its search-time
            parameters (nprobe, efSearch) already applied.
        allowed: the int64 ids results may have.

    Returns:
        Parameters of the type the index expects, holding the selector and everything it
        points to (FAISS keeps raw pointers: drop the parameters only after the search).

    Example:
        >>> params = filtered_search_params(index, np.array([3, 7]))
        >>> scores, ids = index.search(queries, 10, params=params)
    """
    allowed = np.ascontiguousarray(allowed, dtype=np.int64)
    selector, bitmap = id_selector(allowed)
    keep: list[Any] = [selector, bitmap]
    inner = _inner(index)
    params: faiss.SearchParameters
    if isinstance(inner, faiss.IndexIVF):
        ivf_params = faiss.SearchParametersIVF()
        # Parameters of its own type would reset nprobe and max_codes to defaults.
        ivf_params.nprobe = filtered_nprobe(inner.nprobe, inner.nlist, allowed.size / max(inner.ntotal, 1))
        ivf_params.max_codes = inner.max_codes
        quantizer = faiss.downcast_index(inner.quantizer)
        if isinstance(quantizer, faiss.IndexHNSW):
            # An HNSW quantiser returns about efSearch lists: it must look for nprobe of them.
            hnsw = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]  # missing from faiss's stubs
            hnsw.efSearch = max(quantizer.hnsw.efSearch, ivf_params.nprobe)
            ivf_params.quantizer_params = hnsw
            keep.append(hnsw)
        params = ivf_params
    elif isinstance(inner, faiss.IndexHNSW):
        hnsw = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
        hnsw.efSearch = inner.hnsw.efSearch
        params = hnsw
    else:
        params = faiss.SearchParameters()
    params.sel = selector
    # SWIG does not keep what `sel` (and the bitmap under it) points to alive: the
    # parameters object must, for as long as the caller holds it.
    params.referenced_objects = keep  # type: ignore[attr-defined]
    return params


def mmap_flags(params: dict[str, Any]) -> int:
    """`faiss.read_index` flags that map an index of this kind instead of reading it.

    IVF: IO_FLAG_MMAP maps the inverted lists (codes and ids) from the file. Exact:
    IO_FLAG_MMAP_IFC maps the flat codes. The two cannot be combined: MMAP_IFC swaps the
    file reader for a mapped one, which the IVF mapping code refuses.
    """
    if params.get("kind") == "ivf":
        return int(faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    return int(faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)


def single_query_threads() -> None:
    """One FAISS thread for searches issued one query at a time, on the calling thread.

    A single query gains nothing from FAISS's OpenMP team, and on a busy machine the team's
    barrier waits for a descheduled peer: measured on the 2-core development box under
    load, a 10k exact search took 10 ms p50 with 2 threads and 2 ms with 1. The setting
    is per thread (OpenMP ICVs are thread-local), so index builds elsewhere keep their team.
    Concurrent requests still use every core, one per request thread.
    """
    if faiss.omp_get_max_threads() != 1:
        faiss.omp_set_num_threads(1)


def apply_params(index: faiss.Index, params: dict[str, Any]) -> None:
    """Set the search-time parameters recorded in a manifest on a freshly loaded index."""
    if params.get("kind") != "ivf":
        return
    ivf = faiss.extract_index_ivf(index)
    ivf.nprobe = int(params["nprobe"])
    if params.get("ef_search"):
        quantizer = faiss.downcast_index(ivf.quantizer)
        if isinstance(quantizer, faiss.IndexHNSW):
            quantizer.hnsw.efSearch = int(params["ef_search"])


_GPU_RESOURCES: list[Any] = []


def faiss_gpu_count() -> int:
    """GPUs FAISS can use (0 on a CPU-only build or machine)."""
    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get is not None else 0


def to_gpu(index: faiss.Index, params: dict[str, Any]) -> faiss.Index | None:
    """A copy of `index` on GPU 0 with the manifest's search parameters, or None.

    Returns None (and logs why) when FAISS has no GPU or cannot move this index type; the
    caller keeps searching on the CPU. The copy is full: GPU memory holds every code.
    """
    if faiss_gpu_count() == 0:
        log.warning("index.gpu_unavailable: FAISS sees no GPU; searching on the CPU")
        return None
    try:
        if not _GPU_RESOURCES:
            # One resource object per process: it owns cuBLAS handles and a scratch pool.
            _GPU_RESOURCES.append(faiss.StandardGpuResources())
        gpu = faiss.index_cpu_to_gpu(_GPU_RESOURCES[0], 0, index)
        if params.get("kind") == "ivf":
            faiss.GpuParameterSpace().set_index_parameter(gpu, "nprobe", int(params["nprobe"]))
    except (RuntimeError, AttributeError) as exc:
        log.warning("index.gpu_failed reason=%s; searching on the CPU", exc)
        return None
    return gpu
