"""Signatures: edits of one picture stay close, different pictures stay apart."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pixseek.media.perceptual_hash import (
    CODE_ROWS,
    THUMB,
    PairScores,
    Signature,
    box_matrix,
    compare_many,
    hamming,
    signature,
    turn,
    unpack_codes,
)
from pixseek.search.duplicates.matching import Rules
from tests.support.photos import EDITS, photo

RULES = Rules()


def compare(a: Signature, b: Signature) -> PairScores:
    """One pair, through the batch comparison the duplicate finder runs."""
    return compare_many(a.codes[None], a.thumb[None], b.codes[None], b.thumb[None])


def _is_near(a: Signature, b: Signature) -> bool:
    s = compare(a, b)
    return bool(s.distance[0] <= RULES.near_hash_distance and s.agreement[0] >= RULES.near_patch_agreement)


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_edited_copy_is_near(edit: str) -> None:
    original = photo(1)
    assert _is_near(signature(original), signature(EDITS[edit](original)))


def test_crop_lines_up_with_a_window_of_the_original() -> None:
    s = compare(signature(photo(3)), signature(EDITS["cropped"](photo(3))))
    assert s.big[0] == 0 and s.window[0] != 0  # the crop is a window of the original, not the whole


def test_turned_hashes_are_the_hashes_of_the_turned_picture() -> None:
    picture = photo(6, (200, 120))
    sig = signature(picture)
    pixels = np.asarray(picture.convert("L"))
    for k in range(8):
        turned = signature(Image.fromarray(np.ascontiguousarray(turn(pixels, k))))
        assert int(hamming(sig.codes[k], turned.codes[0])) <= 2, k


def test_box_matrix_averages_whole_and_fractional_pixels() -> None:
    m = box_matrix(np.array(0.25), np.array(0.75), 2, 4)  # pixels 1..3 into two cells
    assert np.allclose(m, [[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    assert np.allclose(box_matrix(np.array(0.0), np.array(1.0), 3, 4).sum(axis=1), 1.0)


def test_different_pictures_are_not_near() -> None:
    sigs = [signature(photo(seed)) for seed in range(12)]
    for i in range(len(sigs)):
        for j in range(i + 1, len(sigs)):
            assert not _is_near(sigs[i], sigs[j]), (i, j)


def test_signature_round_trips_through_blobs() -> None:
    sig = signature(photo(4))
    # Read back as the duplicate store reads its rows.
    codes = unpack_codes(np.frombuffer(sig.codes_blob(), dtype=np.uint8)[None])[0]
    thumb = np.frombuffer(sig.thumbs_blob(), dtype=np.uint8).reshape(THUMB, THUMB)
    assert codes.shape == (CODE_ROWS, 8) and np.array_equal(codes, sig.codes)
    assert np.array_equal(thumb, sig.thumb)


def test_hamming_counts_bits() -> None:
    a = np.zeros(8, dtype=np.uint8)
    b = np.array([0xFF, 1, 0, 0, 0, 0, 0, 0x80], dtype=np.uint8)
    assert int(hamming(a, b)) == 10
