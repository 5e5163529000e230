"""Signatures: edits of one picture stay close, different pictures stay apart."""

from __future__ import annotations

import numpy as np
import pytest

from pixseek.media.perceptual_hash import (
    SCALES,
    THUMB,
    PairScores,
    Signature,
    compare_many,
    hamming,
    signature,
    unpack_codes,
)
from pixseek.search.duplicates.matching import Rules
from tests.duplicates.photos import EDITS, photo

RULES = Rules()


def compare(a: Signature, b: Signature) -> PairScores:
    """One pair, through the batch comparison the duplicate finder runs."""
    codes_a, codes_b = np.stack([a.codes, a.mirror])[None], np.stack([b.codes, b.mirror])[None]
    return compare_many(codes_a, a.thumbs[None], codes_b, b.thumbs[None])


def _is_near(a: Signature, b: Signature) -> bool:
    s = compare(a, b)
    return bool(s.distance[0] <= RULES.near_hash_distance and s.agreement[0] >= RULES.near_patch_agreement)


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_edited_copy_is_near(edit: str) -> None:
    original = photo(1)
    assert _is_near(signature(original), signature(EDITS[edit](original)))


def test_mirror_is_found_through_the_mirror_code() -> None:
    original = photo(2)
    plain = compare(signature(original), signature(EDITS["mirrored"](original)))
    assert plain.mirrored[0]
    assert plain.distance[0] <= 2


def test_crop_lines_up_with_a_smaller_crop_of_the_original() -> None:
    s = compare(signature(photo(3)), signature(EDITS["cropped"](photo(3))))
    assert s.scale_a[0] > s.scale_b[0]  # the original's tighter crop matches the crop's whole


def test_different_pictures_are_not_near() -> None:
    sigs = [signature(photo(seed)) for seed in range(12)]
    for i in range(len(sigs)):
        for j in range(i + 1, len(sigs)):
            assert not _is_near(sigs[i], sigs[j]), (i, j)


def test_signature_round_trips_through_blobs() -> None:
    sig = signature(photo(4))
    # Read back as the duplicate store reads its rows.
    codes = unpack_codes(np.frombuffer(sig.codes_blob(), dtype=np.uint8)[None])[0]
    thumbs = np.frombuffer(sig.thumbs_blob(), dtype=np.uint8).reshape(len(SCALES), THUMB, THUMB)
    assert np.array_equal(codes[0], sig.codes)
    assert np.array_equal(codes[1], sig.mirror)
    assert np.array_equal(thumbs, sig.thumbs)


def test_hamming_counts_bits() -> None:
    a = np.zeros(8, dtype=np.uint8)
    b = np.array([0xFF, 1, 0, 0, 0, 0, 0, 0x80], dtype=np.uint8)
    assert int(hamming(a, b)) == 10
