"""Detection over arrays: candidates from FAISS, then the tier rules. No SQL here.

The service feeds it from the catalog; the scale benchmark feeds it synthetic arrays, so
both measure the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pixseek.search.duplicates.candidates import cls_candidates, hash_candidates
from pixseek.search.duplicates.matching import Matches, Rows, Rules, classify, merge_candidates


@dataclass(frozen=True)
class SearchLimits:
    knn: int = 10  # CLS neighbours per image
    exact_limit: int = 20_000  # brute force up to this many images, approximate indexes above
    batch: int = 16_384  # images per FAISS query batch
    scale_hash_distance: int = 8  # hash candidate radius (at most) past the brute-force limit


def find_matches(
    codes: np.ndarray,
    thumbs: Rows,
    rules: Rules,
    limits: SearchLimits,
    *,
    vectors: np.ndarray | None = None,
    vector_rows: np.ndarray | None = None,
    query_rows: np.ndarray | None = None,
) -> Matches:
    """Matched pairs among N images (rows of `codes`/`thumbs`).

    Args:
        codes: (N, CODE_ROWS, 8) uint8: turned whole-picture hashes, then window hashes.
        thumbs: (N, 64, 64) uint8 thumbnails (may be a memmap; only candidate rows are read).
        rules: the tier thresholds.
        limits: search sizes.
        vectors: CLS vectors of the rows in `vector_rows` (all rows when that is None).
        query_rows: compare only these rows against everything (incremental); default all.
    """
    hash_pairs = hash_candidates(
        codes,
        radius=rules.near_hash_distance,
        exact_limit=limits.exact_limit,
        batch=limits.batch,
        query_rows=query_rows,
        scale_radius=limits.scale_hash_distance,
    )
    cls_pairs = np.empty((0, 2), dtype=np.int64)
    cls_scores = np.empty(0, dtype=np.float32)
    if vectors is not None and len(vectors) >= 2:
        rows = np.arange(len(codes), dtype=np.int64) if vector_rows is None else vector_rows
        sub_query = None if query_rows is None else np.flatnonzero(np.isin(rows, query_rows))
        if sub_query is None or len(sub_query):
            min_score = rules.similar_threshold if rules.similar_threshold is not None else -1.0
            sub_pairs, cls_scores = cls_candidates(
                vectors,
                k=limits.knn,
                min_score=min_score,
                exact_limit=limits.exact_limit,
                batch=limits.batch,
                query_rows=sub_query,
            )
            if len(sub_pairs):
                cls_pairs = np.sort(rows[sub_pairs], axis=1)
    pairs, scores = merge_candidates(hash_pairs, cls_pairs, cls_scores)
    return classify(pairs, scores, codes, thumbs, rules)
