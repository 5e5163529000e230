"""Detection end to end: tiers, incremental runs, decisions that survive re-ingest and re-runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pixseek.core.db import session_scope
from pixseek.core.errors import InvalidRequest, UnsupportedImage
from pixseek.core.settings import Settings
from pixseek.index.catalog.duplicates import DuplicateDecision, DuplicateGroup, DuplicatePair, ImageHash
from pixseek.ingest.run import run_ingest
from pixseek.search.duplicates.service import (
    DetectSummary,
    DuplicateService,
    GroupDecided,
    GroupNotFound,
    GroupView,
)
from tests.support.photos import EDITS, photo, write


def _detect(settings: Settings, *, full: bool = False) -> tuple[DetectSummary, list[GroupView]]:
    service = DuplicateService(settings)
    with session_scope(settings) as session:
        summary = service.detect(session, full=full)
    with session_scope(settings) as session:
        _, groups = service.list_groups(session)
    return summary, groups


def _keys(group: GroupView) -> set[str | None]:
    return {image.key for image in group.images}


def test_one_group_per_picture_with_each_member_s_tier(settings: Settings, dup_bucket: Path) -> None:
    run_ingest(settings, str(dup_bucket))
    summary, groups = _detect(settings)
    assert summary.images == 11 and summary.compared == 11
    assert summary.groups == {"exact": 1, "near": 1, "contained": 0, "similar": 0}
    beach = next(g for g in groups if "beach.jpg" in _keys(g))
    # The original, its byte-identical twin and every edited copy: one group, one keeper.
    assert _keys(beach) == {
        "beach.jpg",
        "beach-copy.jpg",
        "beach-resized.jpg",
        "beach-recompressed.jpg",
        "beach-mirrored.jpg",
        "beach-cropped.jpg",
    }
    assert beach.kind == "exact"  # the group's strongest link
    keeper = beach.images[0]
    assert keeper.id == beach.keep and keeper.role == "keep" and keeper.tier is None
    assert keeper.key in {"beach.jpg", "beach-copy.jpg"}  # full resolution beats the edits
    tiers = {image.key: image.tier for image in beach.images[1:]}
    twin = ({"beach.jpg", "beach-copy.jpg"} - {keeper.key}).pop()
    assert tiers.pop(twin) == "exact"
    assert set(tiers.values()) == {"near"}
    mirrored = next(i for i in beach.images if i.key == "beach-mirrored.jpg")
    assert mirrored.reason.startswith("near:") and "mirror" in mirrored.reason
    lake = next(g for g in groups if g is not beach)
    assert lake.kind == "near" and _keys(lake) == {"lake.jpg", "lake-grey.jpg"}
    assert all(key and not key.startswith("other") for g in groups for key in _keys(g))


def test_similar_tier_is_off_with_random_weights(settings: Settings, dup_bucket: Path) -> None:
    run_ingest(settings, str(dup_bucket))
    _detect(settings)
    with session_scope(settings) as session:
        kinds = set(session.scalars(select(DuplicatePair.kind)))
    assert kinds == {"near"}


def test_only_new_images_are_compared(settings: Settings, dup_bucket: Path) -> None:
    run_ingest(settings, str(dup_bucket))
    _detect(settings)
    summary, _ = _detect(settings)
    assert summary.compared == 0
    write(dup_bucket / "beach-grey.jpg", EDITS["grey"](photo(1, (240, 180))))
    run_ingest(settings, str(dup_bucket))
    summary, groups = _detect(settings)
    assert summary.compared == 1
    beach = next(g for g in groups if "beach.jpg" in _keys(g))
    assert "beach-grey.jpg" in _keys(beach)


def _touch_all(folder: Path) -> None:
    for path in folder.iterdir():
        stat = path.stat()
        os.utime(path, (stat.st_atime, stat.st_mtime + 100))


def test_dismissed_pair_stays_dismissed_after_reingest_and_rerun(
    settings: Settings, dup_bucket: Path
) -> None:
    run_ingest(settings, str(dup_bucket))
    _, groups = _detect(settings)
    near = next(g for g in groups if g.kind == "near")
    service = DuplicateService(settings)
    with session_scope(settings) as session:
        dismissed = service.dismiss(session, near.id)
    assert dismissed.status == "dismissed"
    _touch_all(dup_bucket)  # every file looks changed: re-read, re-hashed, compared again
    run_ingest(settings, str(dup_bucket))
    with session_scope(settings) as session:
        assert (
            session.scalar(select(func.count()).select_from(ImageHash).where(ImageHash.checked_at.is_(None)))
            == 11
        )
    summary, groups = _detect(settings)
    assert summary.compared == 11
    assert [g.kind for g in groups] == ["exact"]
    _, groups = _detect(settings, full=True)
    assert [g.kind for g in groups] == ["exact"]
    with session_scope(settings) as session:
        _, history = service.list_groups(session, status="dismissed")
    assert [g.id for g in history] == [near.id]


def test_resolve_marks_duplicates_and_keeps_files(settings: Settings, dup_bucket: Path) -> None:
    run_ingest(settings, str(dup_bucket))
    _, groups = _detect(settings)
    beach = next(g for g in groups if "beach.jpg" in _keys(g))
    service = DuplicateService(settings)
    with session_scope(settings) as session:
        resolved = service.resolve(session, beach.id, action="remove")
    roles = {i.key: i.role for i in resolved.images}
    assert list(roles.values()).count("keep") == 1
    assert roles["beach-cropped.jpg"] == "duplicate"
    assert resolved.status == "resolved" and resolved.action == "remove"
    assert (dup_bucket / "beach-cropped.jpg").exists()
    with session_scope(settings) as session:
        # Six images, five contents: every pair of contents, and the twins' own pair.
        assert session.scalar(select(func.count()).select_from(DuplicateDecision)) == 5 * 4 // 2 + 1
        with pytest.raises(GroupDecided):
            service.dismiss(session, beach.id)
    _, groups = _detect(settings, full=True)
    assert [_keys(g) for g in groups] == [{"lake.jpg", "lake-grey.jpg"}]


def test_resolve_refuses_images_outside_the_group(settings: Settings, dup_bucket: Path) -> None:
    run_ingest(settings, str(dup_bucket))
    _, groups = _detect(settings)
    service = DuplicateService(settings)
    with session_scope(settings) as session:
        with pytest.raises(InvalidRequest):
            service.resolve(session, groups[0].id, keep=[999_999])
        with pytest.raises(InvalidRequest):
            service.resolve(session, groups[0].id, action="delete")
        with pytest.raises(GroupNotFound):
            service.get_group(session, 999_999)


def test_check_finds_each_tier_and_writes_nothing(
    settings: Settings, dup_bucket: Path, tmp_path: Path
) -> None:
    run_ingest(settings, str(dup_bucket))
    _detect(settings)
    service = DuplicateService(settings)
    with session_scope(settings) as session:
        before = session.scalar(select(func.count()).select_from(DuplicateGroup))
        exact = service.check(session, (dup_bucket / "beach.jpg").read_bytes())
        edited = write(tmp_path / "new.jpg", EDITS["brighter"](EDITS["cropped"](photo(1, (240, 180)))))
        near = service.check(session, edited.read_bytes())
        unrelated = service.check(session, write(tmp_path / "u.jpg", photo(99)).read_bytes())
        with pytest.raises(UnsupportedImage):
            service.check(session, b"not an image at all")
        with pytest.raises(InvalidRequest):
            service.check(session, b"")
        assert session.scalar(select(func.count()).select_from(DuplicateGroup)) == before
    assert exact.verdict == "exact"
    assert {m.key for m in exact.matches if m.kind == "exact"} == {"beach.jpg", "beach-copy.jpg"}
    assert near.verdict == "near" and "beach.jpg" in {m.key for m in near.matches}
    assert unrelated.as_dict() == {"sha256": unrelated.sha256, "verdict": "none", "matches": []}
