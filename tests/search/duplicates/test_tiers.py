"""Regrouping from stored pairs: `similar` kept apart from `near`, weak links never chain."""

from __future__ import annotations

import numpy as np

from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.index.catalog.duplicates import DuplicatePair
from pixseek.index.catalog.images import Image, ImageStatus
from pixseek.media.perceptual_hash import CODE_ROWS, DIHEDRAL, THUMB
from pixseek.search.duplicates.matching import Rules, classify
from pixseek.search.duplicates.service import DuplicateService


def _catalog(settings: Settings, sizes: dict[str, int]) -> dict[str, int]:
    ids = {}
    with session_scope(settings) as session:
        for name, side in sizes.items():
            row = Image(
                bucket="b",
                key=name,
                status=ImageStatus.INDEXED,
                sha256=name * 8,
                width=side,
                height=side,
                size=1,
            )
            session.add(row)
            session.flush()
            ids[name] = row.id
    return ids


def _pair(session, a: int, b: int, kind: str, score: float) -> None:  # type: ignore[no-untyped-def]
    session.add(
        DuplicatePair(image_a=min(a, b), image_b=max(a, b), kind=kind, score=score, reason=f"{kind} test")
    )


def test_a_retake_joins_the_picture_s_group_as_similar(settings: Settings) -> None:
    pretrained = settings.model_copy(update={"pretrained": "some-tag"})
    ids = _catalog(settings, {"a": 300, "b": 200, "c": 100, "d": 50})
    service = DuplicateService(pretrained)
    with session_scope(settings) as session:
        _pair(session, ids["a"], ids["b"], "near", 0.95)  # B is an edited copy of A
        _pair(session, ids["b"], ids["c"], "similar", 0.92)  # C is a retake of B's picture
        session.flush()
        counts = service.regroup(session)
        _, groups = service.list_groups(session)
    assert counts == {
        "exact": 0,
        "near": 1,
        "contained": 0,
        "similar": 0,
    }  # one group, its strongest link near
    (group,) = groups
    assert group.keep == ids["a"]
    tiers = {image.id: image.tier for image in group.images}
    assert tiers == {ids["a"]: None, ids["b"]: "near", ids["c"]: "similar"}
    assert ids["d"] not in tiers


def test_retakes_alone_form_a_similar_group(settings: Settings) -> None:
    pretrained = settings.model_copy(update={"pretrained": "some-tag"})
    ids = _catalog(settings, {"a": 300, "b": 200})
    with session_scope(settings) as session:
        _pair(session, ids["a"], ids["b"], "similar", 0.93)
        session.flush()
        assert DuplicateService(pretrained).regroup(session) == {
            "exact": 0,
            "near": 0,
            "contained": 0,
            "similar": 1,
        }


def test_random_weights_report_no_similar_groups(settings: Settings) -> None:
    ids = _catalog(settings, {"a": 300, "b": 200})
    with session_scope(settings) as session:
        _pair(session, ids["a"], ids["b"], "similar", 0.99)
        session.flush()
        assert DuplicateService(settings).regroup(session) == {
            "exact": 0,
            "near": 0,
            "contained": 0,
            "similar": 0,
        }


def test_near_chain_reaches_one_hop_past_the_keeper_s_copies(settings: Settings) -> None:
    ids = _catalog(settings, {"a": 300, "b": 200, "c": 100})
    with session_scope(settings) as session:
        _pair(session, ids["a"], ids["b"], "near", 0.95)
        _pair(session, ids["b"], ids["c"], "near", 0.95)  # C matched B, not A
        session.flush()
        DuplicateService(settings).regroup(session)
        _, groups = DuplicateService(settings).list_groups(session)
    assert [{i.id for i in g.images} for g in groups] == [{ids["a"], ids["b"], ids["c"]}]
    via = next(i for i in groups[0].images if i.id == ids["c"])
    assert via.tier == "near" and f"a copy of #{ids['b']}" in via.reason


def test_classify_needs_both_hash_and_patches_and_uses_cls_only_for_similar() -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, size=(3, CODE_ROWS, 8), dtype=np.uint8)
    codes[0, DIHEDRAL] = codes[0, 0]  # the whole picture's window hash is its unturned hash
    codes[1] = codes[0]
    codes[2] = codes[0]
    thumbs = rng.integers(0, 256, size=(3, THUMB, THUMB), dtype=np.uint8)
    thumbs[1] = thumbs[0]  # 0-1: same hash, same patches -> near
    pairs = np.array([[0, 1], [0, 2], [1, 2]])
    cls = np.array([np.nan, 0.95, np.nan], dtype=np.float32)  # 0-2: same hash, other patches
    m = classify(pairs, cls, codes, thumbs, Rules(similar_threshold=0.9))
    assert m.pairs.tolist() == [[0, 1], [0, 2]]
    assert m.kinds.tolist() == ["near", "similar"]
    off = classify(pairs, cls, codes, thumbs, Rules(similar_threshold=None))
    assert off.pairs.tolist() == [[0, 1]]
