"""Detection over the catalog: compare new images (or all), store the pairs, rebuild the groups.

Incremental: images whose signature is new or changed since the last run (`checked_at`
is NULL) are compared against the whole collection; everything else keeps the pairs found
before. Only the catalog is read: images without a signature are given one by ingest
(`pixseek.ingest.signatures`) before a detection job gets here. The array work itself is
`detect.py`'s, shared with the scale benchmark.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from pixseek.core.db import IN_LIST_MAX, in_chunks, utcnow
from pixseek.core.settings import Settings
from pixseek.index.catalog.duplicates import DuplicatePair, ImageHash
from pixseek.index.catalog.images import VIDEO, Image
from pixseek.index.vectors.patch_store import PatchStore
from pixseek.model.identity import ModelId
from pixseek.search.duplicates.layout import LayoutRule, StoredPatches, check_layout
from pixseek.search.duplicates.matching import Matches, Rules
from pixseek.search.duplicates.pair_search import SearchLimits, find_matches
from pixseek.search.duplicates.regroup import regroup
from pixseek.search.duplicates.store import CHUNK, Collection, load_collection, load_vectors
from pixseek.search.duplicates.twins import link_twins

log = logging.getLogger(__name__)


@dataclass
class DetectSummary:
    """What one detection run did; `as_dict` is the `detection` document of the CLI and API."""

    images: int  # images with a signature, all compared against when new ones are
    compared: int  # images compared against the collection in this run
    pairs_found: int
    backfilled: int = 0  # signatures computed first, by ingest, for images that had none
    groups: dict[str, int] = field(default_factory=dict)  # open groups per tier afterwards

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def query_batch(settings: Settings) -> int:
    """Images per FAISS query batch, from the memory budget.

    A batch of hash queries can return up to a few hundred neighbours per image; a batch of
    CLS queries holds k scores and ids. 64 KiB per queried image is a generous bound for both.
    """
    return max(256, settings.duplicates.memory_mb * 1024 // 64)


def detect(session: Session, settings: Settings, *, full: bool = False) -> DetectSummary:
    """Compare new images (all images when `full`) and rebuild the open groups."""
    collection = load_collection(session)
    n = len(collection.ids)
    if full:
        session.execute(delete(DuplicatePair))
        query_rows = None
        compared = n
    else:
        query_rows = np.flatnonzero(collection.unchecked)
        compared = len(query_rows)
    found = 0
    if n >= 2 and compared:
        matches = _match(session, settings, collection, query_rows)
        found = _store_pairs(session, collection, matches)
    found += link_twins(session)
    _mark_checked(session, collection, query_rows)
    groups = regroup(session, settings)
    summary = DetectSummary(images=n, compared=compared, pairs_found=found, groups=groups)
    log.info("duplicates.detected %s", summary.as_dict())
    return summary


def _match(
    session: Session, settings: Settings, collection: Collection, query_rows: np.ndarray | None
) -> Matches:
    cfg = settings.duplicates
    limits = SearchLimits(
        knn=cfg.knn,
        exact_limit=cfg.exact_limit,
        batch=query_batch(settings),
        scale_hash_distance=cfg.scale_hash_distance,
    )
    vector_rows, vectors = load_vectors(session, collection.ids, ModelId.of(settings).key)
    matches = find_matches(
        collection.codes,
        collection.thumbs,
        Rules.of(settings),
        limits,
        vectors=vectors if len(vector_rows) >= 2 else None,
        vector_rows=vector_rows,
        query_rows=query_rows,
    )
    # Similar pairs must also show their things in the same places (patch tokens).
    patches = StoredPatches(PatchStore(settings.patch_dir), collection.ids)
    return check_layout(matches, patches, LayoutRule.of(settings))


def _store_pairs(session: Session, collection: Collection, matches: Matches) -> int:
    if not len(matches):
        return 0
    ids = collection.ids
    a_ids, b_ids = ids[matches.pairs[:, 0]], ids[matches.pairs[:, 1]]
    # A video's own moments (a scene it shows twice, a segment and its video) are no copies.
    families = _video_families(session, a_ids, b_ids)
    keep = np.fromiter(
        (
            int(a) not in families or families.get(int(a)) != families.get(int(b))
            for a, b in zip(a_ids, b_ids, strict=True)
        ),
        dtype=bool,
        count=len(a_ids),
    )
    if not keep.all():
        matches = matches.subset(keep)
        a_ids, b_ids = a_ids[keep], b_ids[keep]
        if not len(matches):
            return 0
    # Pairs already stored (from a previous run) are replaced by the fresh comparison.
    # Half an IN list of pairs at a time: both of a pair's ids may go into it.
    half = IN_LIST_MAX // 2
    for start in range(0, len(a_ids), half):
        pa, pb = a_ids[start : start + half].tolist(), b_ids[start : start + half].tolist()
        involved = sorted(set(pa) | set(pb))
        existing = session.execute(
            select(DuplicatePair.id, DuplicatePair.image_a, DuplicatePair.image_b).where(
                DuplicatePair.image_a.in_(involved)
            )
        ).all()
        wanted = set(zip(pa, pb, strict=True))
        stale = [pid for pid, a, b in existing if (a, b) in wanted]
        if stale:
            session.execute(delete(DuplicatePair).where(DuplicatePair.id.in_(stale)))
    now = utcnow()
    holders = [matches.container(i) for i in range(len(matches))]
    container = [None if h is None else int(matches.pairs[i, h]) for i, h in enumerate(holders)]
    container_ids = [None if c is None else int(ids[c]) for c in container]
    sizes = _sizes(session, sorted({c for c in container_ids if c is not None}))
    rows = [
        {
            "image_a": int(a_ids[i]),
            "image_b": int(b_ids[i]),
            "kind": str(matches.kinds[i]),
            "score": float(matches.scores[i]),
            "hash_distance": int(matches.distance[i]),
            "patch_agreement": float(matches.agreement[i]),
            "cls_score": None if np.isnan(matches.cls[i]) else float(matches.cls[i]),
            "reason": matches.reason(i, (f"#{a_ids[i]}", f"#{b_ids[i]}"), sizes.get(container_ids[i] or -1)),
            "container": container_ids[i],
            "found_at": now,
        }
        for i in range(len(matches))
    ]
    rows = _fold_videos(session, rows, families)
    for start in range(0, len(rows), CHUNK):
        session.execute(insert(DuplicatePair), rows[start : start + CHUNK])
    return len(rows)


def _sizes(session: Session, image_ids: list[int]) -> dict[int, tuple[int, int]]:
    """(width, height) of the given images, where the catalog knows them."""
    out: dict[int, tuple[int, int]] = {}
    for part in in_chunks(image_ids):
        for image_id, width, height in session.execute(
            select(Image.id, Image.width, Image.height).where(Image.id.in_(part))
        ):
            if width and height:
                out[int(image_id)] = (int(width), int(height))
    return out


def _mark_checked(session: Session, collection: Collection, query_rows: np.ndarray | None) -> None:
    ids = collection.ids if query_rows is None else collection.ids[query_rows]
    now = utcnow()
    for part in in_chunks(ids.tolist()):
        session.execute(
            update(ImageHash)
            .where(ImageHash.image_id.in_(part))
            .values(checked_at=now)
            .execution_options(synchronize_session=False)
        )


def _video_families(session: Session, a_ids: np.ndarray, b_ids: np.ndarray) -> dict[int, int]:
    """Of the ids that are videos or their segments: the id of their video (ingest/video.py)."""
    involved = sorted({int(i) for i in a_ids} | {int(i) for i in b_ids})
    family: dict[int, int] = {}
    for part in in_chunks(involved):
        for image_id, parent_id in session.execute(
            select(Image.id, Image.parent_id).where(Image.id.in_(part), Image.media == VIDEO)
        ):
            family[int(image_id)] = int(parent_id if parent_id is not None else image_id)
    return family


def _fold_videos(
    session: Session, rows: list[dict[str, Any]], families: dict[int, int]
) -> list[dict[str, Any]]:
    """The pairs with those between two videos' moments folded into one pair of the two videos
    (a copy re-encoded, resized or trimmed: one group of two videos, not one per moment);
    pairs of a moment and a picture stay as they are (a photo that is a frame of a video)."""
    kept: list[dict[str, Any]] = []
    best: dict[tuple[int, int], dict[str, Any]] = {}
    for row in rows:
        fa, fb = families.get(row["image_a"]), families.get(row["image_b"])
        if fa is None or fb is None:
            kept.append(row)
            continue
        key = (min(fa, fb), max(fa, fb))
        if key not in best or best[key]["score"] < row["score"]:
            reason = (
                f"moments of both videos match (#{row['image_a']} and #{row['image_b']}): {row['reason']}"
            )
            best[key] = {**row, "image_a": key[0], "image_b": key[1], "reason": reason}
    for a, b in best:
        session.execute(delete(DuplicatePair).where(DuplicatePair.image_a == a, DuplicatePair.image_b == b))
    return kept + list(best.values())
