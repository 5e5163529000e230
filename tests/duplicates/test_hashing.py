"""Signatures: edits of one picture stay close, different pictures stay apart."""

from __future__ import annotations

import numpy as np
import pytest

from pixseek.media.perceptual_hash import Signature, compare, hamming, signature
from pixseek.search.duplicates.matching import Rules
from tests.duplicates.photos import EDITS, photo

RULES = Rules()


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
    back = Signature.from_blobs(sig.codes_blob(), sig.thumbs_blob())
    assert np.array_equal(back.codes, sig.codes)
    assert np.array_equal(back.mirror, sig.mirror)
    assert np.array_equal(back.thumbs, sig.thumbs)


def test_hamming_counts_bits() -> None:
    a = np.zeros(8, dtype=np.uint8)
    b = np.array([0xFF, 1, 0, 0, 0, 0, 0, 0x80], dtype=np.uint8)
    assert int(hamming(a, b)) == 10
