"""Grouping without chaining, and the keeper rules."""

from __future__ import annotations

from datetime import UTC, datetime

from pixseek.search.duplicates.grouping import classes, star_groups
from pixseek.search.duplicates.keeper import ImageFacts, choose_keeper, rank_key


def _rank(order: list[int]):  # type: ignore[no-untyped-def]
    return order.index


def test_members_must_match_the_keeper_directly() -> None:
    # A~B and B~C but not A~C, A the best keeper: C must not ride along through B.
    a, b, c = 1, 2, 3
    stars = star_groups([(a, b, "ab"), (b, c, "bc")], _rank([a, b, c]))
    assert [(s.keeper, sorted(s.members)) for s in stars] == [(a, [b])]


def test_centre_keeper_takes_every_direct_match() -> None:
    a, b, c = 1, 2, 3
    stars = star_groups([(a, b, "ab"), (b, c, "bc")], _rank([b, a, c]))
    assert [(s.keeper, sorted(s.members)) for s in stars] == [(b, [a, c])]


def test_weak_link_does_not_join_two_groups() -> None:
    # Two tight groups {1,2,3} and {4,5,6}; one weak edge 3-4 between them.
    edges = [(1, 2, 0), (1, 3, 0), (2, 3, 0), (4, 5, 0), (4, 6, 0), (5, 6, 0), (3, 4, 0)]
    stars = star_groups(edges, _rank([1, 4, 2, 3, 5, 6]))
    groups = sorted(sorted([s.keeper, *s.members]) for s in stars)
    assert groups == [[1, 2, 3], [4, 5, 6]]


def test_exact_classes_need_two_members() -> None:
    assert classes([(1, "x"), (2, "y"), (3, "x")]) == [[1, 3]]


def test_keeper_prefers_resolution_then_size_then_capture_time() -> None:
    early = datetime(2020, 1, 1, tzinfo=UTC)
    late = datetime(2021, 1, 1, tzinfo=UTC)
    big = ImageFacts(id=1, width=100, height=100, size=10)
    small_heavy = ImageFacts(id=2, width=50, height=50, size=999)
    keeper, reason = choose_keeper([small_heavy, big])
    assert keeper.id == 1 and "largest resolution (100x100)" in reason

    heavy = ImageFacts(id=3, width=100, height=100, size=20)
    keeper, reason = choose_keeper([big, heavy])
    assert keeper.id == 3 and reason == "keeper: same resolution; largest file (20 bytes)"

    old = ImageFacts(id=4, width=100, height=100, size=20, captured_at=early)
    new = ImageFacts(id=5, width=100, height=100, size=20, captured_at=late)
    keeper, reason = choose_keeper([new, old])
    assert keeper.id == 4 and "earliest capture time" in reason


def test_keeper_order_is_configurable() -> None:
    big = ImageFacts(id=1, width=100, height=100, size=10)
    heavy = ImageFacts(id=2, width=50, height=50, size=999)
    keeper, reason = choose_keeper([big, heavy], ["file_size", "resolution"])
    assert keeper.id == 2 and "largest file" in reason


def test_unknown_capture_time_ranks_last_and_ties_fall_to_lowest_id() -> None:
    dated = ImageFacts(id=9, captured_at=datetime(2020, 1, 1, tzinfo=UTC))
    undated = ImageFacts(id=1)
    assert rank_key(dated) < rank_key(undated)
    keeper, reason = choose_keeper([ImageFacts(id=7), ImageFacts(id=3)])
    assert keeper.id == 3 and "lowest id" in reason
