"""The metrics against hand computations."""

from __future__ import annotations

import math

import pytest

from pixseek.evaluation.metrics import hit_at, inside, iou, ndcg_at, ranking_metrics, reciprocal_rank


def test_hit_counts_any_relevant_key_in_the_top_k() -> None:
    ranked = ["a", "b", "c", "d"]
    assert hit_at(ranked, {"c"}, 2) == 0.0
    assert hit_at(ranked, {"c"}, 3) == 1.0
    assert hit_at(ranked, {"x", "b"}, 2) == 1.0
    assert hit_at([], {"a"}, 5) == 0.0


def test_reciprocal_rank_is_that_of_the_first_relevant_key() -> None:
    assert reciprocal_rank(["a", "b", "c"], {"c", "b"}) == 0.5
    assert reciprocal_rank(["a", "b"], {"z"}) == 0.0


def test_ndcg_by_hand() -> None:
    # Relevant at ranks 1 and 3 of two relevant keys: (1 + 1/log2(4)) / (1 + 1/log2(3)).
    expected = (1 + 1 / 2) / (1 + 1 / math.log2(3))
    assert ndcg_at(["a", "x", "b"], {"a", "b"}, 10) == pytest.approx(expected)
    assert ndcg_at(["a", "b"], {"a", "b"}, 10) == pytest.approx(1.0)
    # More relevant keys than k: the ideal list holds k of them.
    assert ndcg_at(["a"], {"a", "b", "c"}, 1) == pytest.approx(1.0)


def test_ranking_metrics_average_over_queries() -> None:
    figures = ranking_metrics([(["a", "b"], {"a"}), (["x", "y", "z", "w", "v", "b"], {"b"})])
    assert figures["recall@1"] == 0.5
    assert figures["recall@5"] == 0.5
    assert figures["recall@10"] == 1.0
    assert figures["mrr"] == pytest.approx((1 + 1 / 6) / 2)
    assert ranking_metrics([]) == {}


def test_iou_and_inside() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0
    assert inside((5, 5), (0, 0, 10, 10)) and not inside((11, 5), (0, 0, 10, 10))
