"""The ways of answering one filtered query that the benchmark compares, each returning ids.

`production` and `previous` make the choice `SearchService._semantic` makes (stored vectors
up to `search_exact_max` allowed images, the index above) with the same `search.semantic`
functions; `previous` searches the index as `semantic.index_top` did before filtered IVF
search raised nprobe (commit d8b1f11). The benchmark checks `production` against
`SearchService.search` itself.
"""

from __future__ import annotations

import math

import faiss
import numpy as np
from sqlalchemy.orm import Session

from pixseek.index.vectors.factory import FILTER_PROBE_GAIN, filtered_search_params, id_selector
from pixseek.index.vectors.store import LoadedIndex
from pixseek.search import semantic

K = 10


def unfiltered(loaded: LoadedIndex, q: np.ndarray) -> np.ndarray:
    return semantic.index_top(loaded, q, K).ids


def index_path(loaded: LoadedIndex, q: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Production above `search_exact_max`: the index with the filtered search parameters."""
    return semantic.index_top(loaded, q, K, allowed=allowed).ids


def stored(session: Session, model: str, q: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Production up to `search_exact_max`: the allowed images' stored vectors, scored exactly."""
    ids, vectors = semantic.stored_vectors(session, allowed, model, q.shape[0])
    return semantic.exact_top(vectors, ids, q, K).ids


def _top(loaded: LoadedIndex, q: np.ndarray, params: faiss.SearchParameters) -> np.ndarray:
    scores, ids = loaded.search(q.reshape(1, -1), K + 16, params=params)
    got = ids[0] >= 0
    found, found_scores = ids[0][got], scores[0][got]
    return found[semantic.order(found, found_scores)[:K]]


def previous_index(loaded: LoadedIndex, q: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """The index path before: an `IDSelectorBatch` at the index's own nprobe."""
    ivf = faiss.extract_index_ivf(loaded.index)
    selector = faiss.IDSelectorBatch(allowed)
    params = faiss.SearchParametersIVF()
    params.nprobe, params.max_codes, params.sel = ivf.nprobe, ivf.max_codes, selector
    return _top(loaded, q, params)


def ratio_only(loaded: LoadedIndex, q: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """nprobe x FILTER_PROBE_GAIN / f at every selectivity, without the exhaustive scan."""
    ivf = faiss.extract_index_ivf(loaded.index)
    fraction = allowed.size / ivf.ntotal
    selector, bitmap = id_selector(allowed)  # `bitmap` must live as long as the search
    params = faiss.SearchParametersIVF()
    params.nprobe = min(ivf.nlist, max(ivf.nprobe, math.ceil(FILTER_PROBE_GAIN * ivf.nprobe / fraction)))
    params.max_codes, params.sel = ivf.max_codes, selector
    found = _top(loaded, q, params)
    del bitmap
    return found


def exact(flat: faiss.Index, q: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Exact filtered search: a flat index over every vector (row i is id i + 1), with the selector."""
    params = filtered_search_params(flat, allowed - 1)
    _, ids = flat.search(q.reshape(1, -1), K, params=params)
    return ids[0][ids[0] >= 0] + 1


def production(
    session: Session, model: str, loaded: LoadedIndex, q: np.ndarray, allowed: np.ndarray, exact_max: int
) -> np.ndarray:
    if allowed.size <= exact_max:
        return stored(session, model, q, allowed)
    return index_path(loaded, q, allowed)


def previous(
    session: Session, model: str, loaded: LoadedIndex, q: np.ndarray, allowed: np.ndarray, exact_max: int
) -> np.ndarray:
    if allowed.size <= exact_max:
        return stored(session, model, q, allowed)
    return previous_index(loaded, q, allowed)
