"""Pure pieces of the query model: tokens, vector combination, explanation, rank fusion."""

from __future__ import annotations

import numpy as np
import pytest

from pixseek.core.errors import InvalidRequest
from pixseek.index.catalog.tokenize import document_for, index_words, same_name, words
from pixseek.search.fusion import reciprocal_rank_fusion
from pixseek.search.prompts import prompts_for
from pixseek.search.query import combine, explain
from tests.support.synthetic_catalog import random_vectors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("IMG_0042.JPG", ["img", "0042", "jpg"]),
        ("beachSunset2019.png", ["beach", "sunset", "2019", "png"]),
        ("summer-trip/day 2", ["summer", "trip", "day", "2"]),
        ("HTTPServer_v2.tar.gz", ["http", "server", "v", "2", "tar", "gz"]),
        ("Café Straße", ["cafe", "strasse"]),
        ("photo (1).jpeg", ["photo", "1", "jpeg"]),
        ("", []),
    ],
)
def test_words(text: str, expected: list[str]) -> None:
    assert words(text) == expected


def test_index_words_add_numbers_without_leading_zeros() -> None:
    assert index_words("DSC00123_0") == ["dsc", "00123", "123", "0"]


def test_document_for_splits_name_folders_and_caption() -> None:
    doc = document_for("2023/summerTrip/IMG_0042.jpg", "A dog, on the beach!")
    assert (doc.name, doc.path, doc.caption) == ("img 0042 42 jpg", "2023 summer trip", "a dog on the beach")
    assert document_for("top.png").path == ""


@pytest.mark.parametrize(
    ("query", "key", "expected"),
    [
        ("IMG_0042.jpg", "a/IMG_0042.jpg", True),
        ("img_0042", "a/IMG_0042.jpg", True),
        ("a/IMG_0042.jpg", "a/IMG_0042.jpg", True),
        ("IMG_0042", "a/IMG_00420.jpg", False),
        ("0042", "a/IMG_0042.jpg", False),
        ("  ", "a.jpg", False),
    ],
)
def test_same_name(query: str, key: str, expected: bool) -> None:
    assert same_name(query, key) is expected


def test_combined_vector_is_the_normalised_weighted_sum() -> None:
    parts = random_vectors(3, seed=1)
    weights = np.array([1.0, 0.5, -0.3])
    combined = combine(parts, weights)
    expected = (weights[:, None] * parts).sum(axis=0)
    np.testing.assert_allclose(combined.vector, expected / np.linalg.norm(expected), atol=1e-6)
    assert np.linalg.norm(combined.vector) == pytest.approx(1.0, abs=1e-6)


def test_explained_contributions_sum_to_the_cosine() -> None:
    parts, images = random_vectors(3, seed=1), random_vectors(10, seed=2)
    combined = combine(parts, np.array([2.0, 1.0, -0.7]))
    sims, contributions = explain(combined, images)
    np.testing.assert_allclose(sims, images @ parts.T, atol=1e-6)
    np.testing.assert_allclose(contributions.sum(axis=1), images @ combined.vector, atol=1e-6)


def test_parts_that_cancel_are_refused() -> None:
    v = random_vectors(1)[0]
    with pytest.raises(InvalidRequest, match="cancel"):
        combine(np.stack([v, v]), np.array([1.0, -1.0]))


def test_prompt_templates_apply_to_short_texts_only() -> None:
    templates = ["a photo of {}.", "art of {}"]
    assert prompts_for("  red  car ", templates, 4) == ["a photo of red car.", "art of red car"]
    assert prompts_for("one two three four five", templates, 4) == ["one two three four five"]
    assert prompts_for("car", [], 4) == ["car"]


def test_reciprocal_rank_fusion() -> None:
    fused = reciprocal_rank_fusion([[10, 20, 30], [30, 40]], k=60)
    scores = {f.id: f.score for f in fused}
    assert scores[30] == pytest.approx(1 / 63 + 1 / 61)
    assert scores[10] == pytest.approx(1 / 61)
    assert [f.id for f in fused] == [30, 10, 20, 40]
    assert next(f.ranks for f in fused if f.id == 40) == [None, 2]
    # Equal fused scores break by id.
    assert [f.id for f in reciprocal_rank_fusion([[5, 1], [1, 5]])] == [1, 5]
