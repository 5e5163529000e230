"""A photo inside a larger picture (a screenshot, a padded copy) is grouped with it as `contained`."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from pixseek.core.db import session_scope
from pixseek.core.settings import DuplicateSettings, Settings
from pixseek.ingest.run import run_ingest
from pixseek.media.insets import INSETS, find_insets
from pixseek.media.perceptual_hash import inset_boxes, signature
from pixseek.search.duplicates.keeper import ImageFacts, rank_key
from pixseek.search.duplicates.matching import Matches
from pixseek.search.duplicates.regroup import _Catalog, _pictures
from pixseek.search.duplicates.service import DuplicateService
from tests.support.photos import inside, jpeg, photo, write


def test_a_screenshot_and_a_padded_copy_join_the_photo_and_alike_chrome_does_not(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "phone"
    original = photo(3, (240, 180))
    write(folder / "photo.jpg", original)
    shown = original.resize((180, 135), Image.Resampling.LANCZOS)
    # The photo in an app, bars around it; another photo in the very same app screen.
    write(folder / "screenshot.jpg", inside(shown, (240, 200), (30, 36), chrome=True))
    write(folder / "other-screenshot.jpg", inside(photo(8, (180, 135)), (240, 200), (30, 36), chrome=True))
    # Off-centre on a plain margin (a padded copy).
    write(folder / "padded.jpg", inside(shown, (260, 190), (70, 10), (235, 235, 235)))
    for seed in (11, 12):
        write(folder / f"unrelated-{seed}.jpg", photo(seed, (240, 180)))
    run_ingest(settings, str(folder))
    service = DuplicateService(settings)
    with session_scope(settings) as session:
        summary = service.detect(session)
    with session_scope(settings) as session:
        _, groups = service.list_groups(session)
    assert summary.groups["contained"] == 1
    (group,) = groups  # the unrelated screenshot joins nothing, nor does anything else
    keeper, *members = group.images
    assert keeper.key == "photo.jpg"  # the original, though both containers are larger
    assert keeper.reason == "keeper: held whole by 2 larger pictures"
    assert group.kind == "contained"
    assert {m.key: m.tier for m in members} == {"screenshot.jpg": "contained", "padded.jpg": "contained"}
    reason = next(m.reason for m in members if m.key == "screenshot.jpg")
    found = re.match(
        r"contained: the whole of #(\d+) appears inside #(\d+) at x,y,w,h (\d+),(\d+),(\d+),(\d+);", reason
    )
    assert found, reason
    assert int(found[1]) == keeper.id
    x, y, w, h = (int(v) for v in found.groups()[2:])
    assert abs(x - 30) <= 3 and abs(y - 36) <= 3 and abs(w - 180) <= 5 and abs(h - 135) <= 5
    # Checking a new screenshot of the photo before ingest says the same.
    upload = jpeg(inside(shown, (250, 220), (50, 60), (255, 255, 255), chrome=True))
    with session_scope(settings) as session:
        checked = service.check(session, upload)
    assert checked.verdict == "contained"
    assert checked.matches[0].key == "photo.jpg"
    assert checked.matches[0].reason.startswith(
        f"contained: the whole of #{keeper.id} appears inside this image"
    )


def test_insets_of_flat_tiny_and_odd_pictures_are_the_whole_picture_or_inside_it() -> None:
    for img in (
        Image.new("RGB", (1, 1)),
        Image.new("L", (300, 7), 128),
        Image.new("RGBA", (64, 64), (10, 200, 30, 0)),
    ):
        boxes = find_insets(img)
        assert boxes.shape == (INSETS, 4)
        assert np.all(boxes == [0.0, 0.0, 1.0, 1.0])
        assert np.array_equal(inset_boxes(signature(img).codes), boxes)
    framed = inside(photo(4, (120, 90)), (200, 150), (50, 40), (255, 255, 255))
    best = find_insets(framed)[0]
    assert np.allclose(best, [50 / 200, 40 / 150, 170 / 200, 130 / 150], atol=0.01)


def test_a_near_pair_aligned_on_a_nearly_whole_inset_says_where() -> None:
    # An inset keeping 95% or more of both sides is the whole picture give or take a frame.
    matches = Matches(
        pairs=np.array([[0, 1]]),
        kinds=np.array(["near"]),
        scores=np.array([0.9], dtype=np.float32),
        distance=np.array([6], dtype=np.int32),
        agreement=np.array([0.9], dtype=np.float32),
        cls=np.array([np.nan], dtype=np.float32),
        big=np.array([1]),
        window=np.array([174]),
        turn=np.array([1]),
        box=np.array([[0.0, 0.02, 1.0, 0.98]]),
    )
    assert matches.reason(0, ("#1", "#2")) == (
        "near: pHash distance 6/64, #1 is #2 crop 100% x 96% from the centre, mirrored; 58/64 patches agree"
    )
    assert matches.container(0) is None


def _facts(image_id: int, width: int, height: int, size: int) -> ImageFacts:
    return ImageFacts(id=image_id, width=width, height=height, size=size, captured_at=None)


def test_copies_not_near_a_larger_holder_of_the_photo_stay_in_its_group() -> None:
    # C, a collage larger than the photo O, matched O through a crop window; O's turned
    # copies R1 and R2 match O and each other, not C. S is a screenshot holding O.
    c, o, r1, r2, s = 1, 2, 3, 4, 5
    sizes = {
        c: (1000, 800, 900),
        o: (640, 480, 500),
        r1: (640, 480, 400),
        r2: (640, 480, 300),
        s: (1080, 1920, 99),
    }
    near = [(c, o), (o, r1), (o, r2), (r1, r2)]
    catalog = _Catalog(
        facts={i: _facts(i, *v) for i, v in sizes.items()},
        sha={i: f"sha{i}" for i in sizes},
        exact=[],
        pairs=[(a, b, "near", 0.9, f"near {a}-{b}", None) for a, b in near]
        + [(o, s, "contained", 0.95, "contained: O in S", s)],
        decided=set(),
    )
    order = list(DuplicateSettings().keeper_order)
    groups, centre = _pictures(catalog, lambda i: rank_key(catalog.facts[i], order))
    (group,) = groups
    assert group.keeper == c  # the largest near copy: the keeper rules pick it
    assert {m: t.value for m, (t, _, _) in group.members.items()} == {
        o: "near",
        r1: "near",
        r2: "near",
        s: "contained",
    }
    assert set(centre.values()) == {c}
