"""Retakes are `similar`, never `near`; captions beside the pictures help hybrid ranking."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from pixseek.core.settings import Settings, get_settings
from pixseek.demo.library import Library
from tests.support.cli import cli_json
from tests.support.meaning import bucket

log = logging.getLogger(__name__)


def _grouped_pairs(groups: list[dict[str, Any]], kind: str) -> set[frozenset[tuple[str, str]]]:
    """(keeper, member) pairs whose member is of tier `kind` relative to its group's keeper."""
    pairs: set[frozenset[tuple[str, str]]] = set()
    for group in groups:
        keeper, *members = group["images"]
        for image in members:
            if image["tier"] == kind:
                pairs.add(frozenset({(keeper["bucket"], keeper["key"]), (image["bucket"], image["key"])}))
    return pairs


def test_retakes_are_similar_never_near(library: Library, meaning: Settings) -> None:
    retakes = bucket(library, "retakes")
    same_scene = {
        frozenset({(retakes, original.key), (retakes, retake.key)}) for original, retake in library.retakes
    }
    document = cli_json("duplicates", "--limit", "1000")
    assert document["total"] == len(document["groups"])
    similar = _grouped_pairs(document["groups"], "similar")
    near = _grouped_pairs(document["groups"], "near") | _grouped_pairs(document["groups"], "exact")
    recall = len(similar & same_scene) / len(same_scene)
    precision = len(similar & same_scene) / len(similar) if similar else 0.0
    log.info("meaning.similar precision=%.3f recall=%.3f pairs=%d", precision, recall, len(similar))
    assert not near & same_scene, "a retake was called a near copy"
    assert recall >= 0.8, f"similar recall {recall:.3f}"
    # Different scenes of alike things pass the CLS cosine (0.9) as often as retakes do
    # (precision 0.27 on CLS alone); the layout check on the patch tokens turns them away
    # (docs/tiny-model.md: precision 1.000, recall 1.000 here). The bar: different
    # scenes are not grouped.
    assert precision == 1.0, f"similar precision {precision:.3f}: different scenes linked"
    similar_reasons = [
        image["reason"]
        for group in document["groups"]
        for image in group["images"][1:]
        if image["tier"] == "similar"
    ]
    assert similar_reasons and all("layout agreement" in r for r in similar_reasons), similar_reasons


def _checked_similar(library: Library, **env: str) -> tuple[float, float, list[str]]:
    """`pixseek duplicates check` of each take (a third shot of a retake scene, never ingested):
    precision and recall of its `similar` matches against the take's own two pictures, and
    their reasons; `env` sets PIXSEEK_ variables for the checks."""
    retakes = bucket(library, "retakes")
    right = wrong = found = 0
    reasons: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        get_settings.cache_clear()
        for take, (original, retake) in zip(library.takes, library.retakes, strict=True):
            result = cli_json("duplicates", "check", str(take))
            assert result["verdict"] != "near", result  # a retake is never a near copy
            own = {(retakes, original.key), (retakes, retake.key)}
            similar = [m for m in result["matches"] if m["kind"] == "similar"]
            hits = sum((m["bucket"], m["key"]) in own for m in similar)
            right, wrong, found = right + hits, wrong + len(similar) - hits, found + (hits > 0)
            reasons += [m["reason"] for m in similar]
    get_settings.cache_clear()
    precision = right / (right + wrong) if right + wrong else 0.0
    return precision, found / len(library.takes), reasons


def test_the_upload_check_checks_layout_as_detection_does(library: Library, meaning: Settings) -> None:
    precision, recall, reasons = _checked_similar(library)
    cls_precision, cls_recall, _ = _checked_similar(library, PIXSEEK_DUPLICATES__SIMILAR_LAYOUT="-1")
    log.info(
        "meaning.check_similar precision=%.3f recall=%.3f (CLS alone %.3f / %.3f)",
        precision,
        recall,
        cls_precision,
        cls_recall,
    )
    assert reasons and all("layout agreement" in r for r in reasons), reasons
    # Measured (docs/duplicates.md): precision 1.000, recall 0.750 (9 of 12 takes find their
    # scene), against 0.585 / 1.000 by CLS cosine alone. The three takes missed agree with
    # their scene at 0.70-0.78, as different scenes of alike things can (up to 0.78 here);
    # the threshold (0.82) was tuned on another library, for the pairs of detection.
    assert precision >= 0.9, f"upload check similar precision {precision:.3f}"
    assert recall >= 0.7, f"upload check similar recall {recall:.3f}"
    assert precision > cls_precision, "the layout check turned no different scene away"
    # The upload's tokens are made in the store's patch mode, whatever the setting says.
    other_mode = _checked_similar(library, PIXSEEK_PATCH_MODE="clearclip")
    assert other_mode == (precision, recall, reasons)


@pytest.mark.xfail(
    strict=True,
    reason="known defect of the near tier: on a plain background, one thing of the same shape at the same "
    "(or mirrored) place, in another colour, is a near copy (a red and a purple square): the signature is "
    "grey and compared at 32x32, where such pictures agree on their few patches of detail",
)
def test_different_flat_scenes_are_not_near_copies(library: Library, meaning: Settings) -> None:
    near = _grouped_pairs(cli_json("duplicates", "--limit", "1000")["groups"], "near")
    assert near == set(), sorted(map(sorted, near))


def test_captions_beside_the_pictures_lift_hybrid_ranking(library: Library, meaning: Settings) -> None:
    pairs = bucket(library, "pairs")
    semantic_hits = hybrid_hits = keyword_first = 0
    for scene in library.pairs:
        a, b = scene.layout.things
        # Words of the caption file (scene.caption, e.g. "a red star left of a blue cross"),
        # asked in another order than the caption's.
        text = f"{b.colour} {b.shape} {a.colour} {a.shape}"
        semantic = cli_json("search", text, "--bucket", pairs, "-k", "1")["results"]
        hybrid = cli_json("search", text, "--mode", "hybrid", "--bucket", pairs, "-k", "1")["results"]
        semantic_hits += [h["key"] for h in semantic] == [scene.key]
        hybrid_hits += [h["key"] for h in hybrid] == [scene.key]
        keyword_first += hybrid[0]["keyword_rank"] == 1
    n = len(library.pairs)
    log.info("meaning.hybrid semantic_r@1=%.3f hybrid_r@1=%.3f", semantic_hits / n, hybrid_hits / n)
    assert keyword_first >= 0.9 * n, f"the caption matched first in {keyword_first} of {n}"
    assert hybrid_hits >= 0.9 * n and hybrid_hits >= semantic_hits, (semantic_hits, hybrid_hits)
