"""FAISS candidate generation checked against brute force."""

from __future__ import annotations

import numpy as np

from pixseek.media.perceptual_hash import CODE_ROWS, DIHEDRAL, HASH_ROWS, hamming
from pixseek.search.duplicates.candidates import cls_candidates, hash_candidates


def _codes(n: int, seed: int, planted: list[tuple[int, int, int]]) -> np.ndarray:
    """Random codes (N, CODE_ROWS, 8); each (src, dst, bits) makes one of dst's turned whole
    hashes a window hash of src with `bits` bits flipped (dst is a turned crop of src)."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, size=(n, CODE_ROWS, 8), dtype=np.uint8)
    for src, dst, bits in planted:
        flat = np.unpackbits(codes[src, DIHEDRAL + int(rng.integers(0, HASH_ROWS - DIHEDRAL))])
        flat[rng.choice(64, size=bits, replace=False)] ^= 1
        codes[dst, int(rng.integers(0, DIHEDRAL))] = np.packbits(flat)
    return codes


def _brute(codes: np.ndarray, radius: int) -> set[tuple[int, int]]:
    windows, turned = codes[:, DIHEDRAL:HASH_ROWS], codes[:, :DIHEDRAL]
    d = np.stack(
        [
            hamming(windows[i][:, None, None, :], turned[None, :, :, :]).min(axis=(0, 2))
            for i in range(len(codes))
        ]
    )  # (N, N): best window of row i against any turned hash of column j
    d = np.minimum(d, d.T)
    i, j = np.nonzero(np.triu(d <= radius, 1))
    return set(zip(i.tolist(), j.tolist(), strict=True))


def test_exact_hash_search_equals_brute_force() -> None:
    codes = _codes(120, 0, [(0, 1, 3), (5, 6, 8), (7, 8, 11), (9, 10, 20)])
    radius = 8
    found = {tuple(p) for p in hash_candidates(codes, radius=radius, exact_limit=10_000, batch=16).tolist()}
    assert found == _brute(codes, radius)
    assert {(0, 1), (5, 6)} <= found and (7, 8) not in found and (9, 10) not in found


def test_multi_index_hashing_finds_every_pair_within_3_bits() -> None:
    codes = _codes(300, 1, [(0, 1, 2), (2, 3, 3), (4, 5, 0)])
    pairs = hash_candidates(codes, radius=8, exact_limit=100, batch=64)
    found = {tuple(p) for p in pairs.tolist()}
    assert {(0, 1), (2, 3), (4, 5)} <= found
    assert found <= _brute(codes, 8)


def test_multi_index_hashing_keeps_pairs_within_the_scale_radius() -> None:
    # dst's turned hash is src's window hash with 6 bits flipped, all in the first 16-bit
    # substring: the other three substrings match, so the search sees the pair for sure.
    codes = _codes(300, 5, [])
    flat = np.unpackbits(codes[0, DIHEDRAL + 40])
    flat[[0, 2, 5, 7, 9, 14]] ^= 1
    codes[1, 3] = np.packbits(flat)
    wide = hash_candidates(codes, radius=12, exact_limit=100, batch=64, scale_radius=8)
    narrow = hash_candidates(codes, radius=12, exact_limit=100, batch=64, scale_radius=4)
    assert (0, 1) in {tuple(p) for p in wide.tolist()}
    assert (0, 1) not in {tuple(p) for p in narrow.tolist()}
    assert {tuple(p) for p in narrow.tolist()} <= _brute(codes, 4)


def test_incremental_search_finds_copies_of_and_by_new_rows() -> None:
    # 150 is a new crop of the old 10; 160 is a new original of the old crop 20.
    codes = _codes(200, 2, [(0, 1, 2), (10, 150, 3), (160, 20, 1)])
    new = np.array([150, 160])
    for limit in (10_000, 100):  # brute force, then multi-index hashing
        pairs = hash_candidates(codes, radius=8, exact_limit=limit, batch=64, query_rows=new)
        assert {tuple(p) for p in pairs.tolist()} == {(10, 150), (20, 160)}


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
