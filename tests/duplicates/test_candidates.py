"""FAISS candidate generation checked against brute force."""

from __future__ import annotations

import numpy as np

from pixseek.media.perceptual_hash import SCALES, hamming
from pixseek.search.duplicates.candidates import CANDIDATE_SLACK, cls_candidates, hash_candidates


def _codes(n: int, seed: int, planted: list[tuple[int, int, int]]) -> np.ndarray:
    """Random codes (N, 2, S, 8); each (src, dst, bits) makes dst's whole code src's with bits flipped."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, size=(n, 2, len(SCALES), 8), dtype=np.uint8)
    for src, dst, bits in planted:
        flat = np.unpackbits(codes[src, 0, 0])
        flat[rng.choice(64, size=bits, replace=False)] ^= 1
        codes[dst, 0, 0] = np.packbits(flat)
    return codes


def _brute(codes: np.ndarray, radius: int) -> set[tuple[int, int]]:
    queries = codes.reshape(len(codes), -1, 8)  # every crop and mirror
    full = codes[:, 0, 0]
    d = hamming(queries[:, :, None, :], full[None, None, :, :]).min(axis=1)  # (N, N)
    d = np.minimum(d, d.T)
    i, j = np.nonzero(np.triu(d <= radius, 1))
    return set(zip(i.tolist(), j.tolist(), strict=True))


def test_exact_hash_search_equals_brute_force() -> None:
    codes = _codes(300, 0, [(0, 1, 3), (5, 6, 8), (7, 8, 11), (9, 10, 20)])
    radius = 8
    found = {tuple(p) for p in hash_candidates(codes, radius=radius, exact_limit=10_000, batch=64).tolist()}
    expected = _brute(codes, radius + CANDIDATE_SLACK)
    assert found == expected
    assert {(0, 1), (5, 6), (7, 8)} <= found and (9, 10) not in found


def test_multi_index_hashing_finds_every_pair_within_3_bits() -> None:
    codes = _codes(500, 1, [(0, 1, 2), (2, 3, 3), (4, 5, 0)])
    pairs = hash_candidates(codes, radius=8, exact_limit=100, batch=200)
    found = {tuple(p) for p in pairs.tolist()}
    assert {(0, 1), (2, 3), (4, 5)} <= found
    assert found <= _brute(codes, 8 + CANDIDATE_SLACK)


def test_incremental_search_finds_pairs_of_new_rows_only() -> None:
    codes = _codes(200, 2, [(0, 1, 2), (10, 150, 3)])
    pairs = hash_candidates(codes, radius=8, exact_limit=10_000, batch=64, query_rows=np.array([150]))
    assert {tuple(p) for p in pairs.tolist()} == {(10, 150)}


def test_cls_knn_equals_brute_force() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(120, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    pairs, scores = cls_candidates(vectors, k=3, min_score=0.3, exact_limit=10_000, batch=50)
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    expected: set[tuple[int, int]] = set()
    for i in range(len(vectors)):
        for j in np.argsort(-sims[i])[:3]:
            if sims[i, j] >= 0.3:
                expected.add((min(i, int(j)), max(i, int(j))))
    assert {tuple(p) for p in pairs.tolist()} == expected
    for (i, j), s in zip(pairs.tolist(), scores.tolist(), strict=True):
        assert abs(s - sims[i, j]) < 1e-4


def test_approximate_cls_search_finds_planted_copies_with_exact_scores() -> None:
    rng = np.random.default_rng(4)
    vectors = rng.normal(size=(3000, 96)).astype(np.float32)
    for src, dst in ((0, 2999), (10, 2000), (500, 1500)):
        vectors[dst] = vectors[src] + 0.2 * rng.normal(size=96).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    pairs, scores = cls_candidates(vectors, k=5, min_score=0.9, exact_limit=100, batch=1000)
    assert {tuple(p) for p in pairs.tolist()} == {(0, 2999), (10, 2000), (500, 1500)}
    for (i, j), s in zip(pairs.tolist(), scores.tolist(), strict=True):
        assert abs(s - float(vectors[i] @ vectors[j])) < 1e-4
