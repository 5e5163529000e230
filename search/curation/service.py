"""Curation commands over the catalog: each reads the collection, runs one algorithm
(`algorithms.py`) and saves its result as selections (`index/catalog/selections.py`).

Copies count once everywhere: a diverse subset, the density scores and the clusters are
computed over each picture's representative (its duplicate group's keeper) and the copies
follow it; a split keeps every duplicate group, stored pair and cluster of retakes (CLS
neighbours at cosine >= `retake_cosine`) inside one split.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections import Counter, defaultdict
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from pixseek.core.db import in_chunks, session_scope
from pixseek.core.errors import IndexNotReady, InvalidRequest
from pixseek.core.settings import Settings
from pixseek.index.catalog.selections import (
    MAX_NAME,
    ImageScore,
    Selection,
    SelectionMember,
    replace_scores,
    save_selection,
)
from pixseek.index.catalog.tags import ImageTag
from pixseek.search.curation import algorithms
from pixseek.search.curation.algorithms import Tick
from pixseek.search.curation.collection import Collection, load
from pixseek.search.curation.errors import SelectionNotFound
from pixseek.search.duplicates.candidates import cls_candidates

log = logging.getLogger(__name__)

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$")
SPLIT_NAMES = {1: ("all",), 2: ("train", "test"), 3: ("train", "val", "test")}


def check_name(name: str) -> str:
    if not name or len(name) > MAX_NAME - 40 or not NAME.match(name):
        raise InvalidRequest(
            f"a selection name is letters, digits and _ . : / - "
            f"(at most {MAX_NAME - 40} characters); got {name!r}"
        )
    return name


def _collection(settings: Settings) -> Collection:
    with session_scope(settings) as session:
        coll = load(session, settings)
    if not len(coll):
        raise IndexNotReady("no searchable images to curate: ingest a bucket first")
    return coll


def _spread(coll: Collection, per_rep: np.ndarray, reps: np.ndarray) -> np.ndarray:
    """A value per representative given to every image it represents."""
    full = np.zeros(len(coll), dtype=per_rep.dtype)
    full[reps] = per_rep
    return full[coll.rep]


def diverse(
    settings: Settings, n: int, name: str | None = None, refine: int = 1, progress: Tick | None = None
) -> dict[str, Any]:
    """A diverse subset of `n` pictures by k-center greedy on CLS (copies counted once), each
    pick then moved to the middle of the region it covers (`refine` steps; 0: pure greedy)."""
    if n < 1 or not 0 <= refine <= 20:
        raise InvalidRequest("n must be at least 1 and refine between 0 and 20")
    name = check_name(name or f"diverse-{n}")
    started = time.perf_counter()
    coll = _collection(settings)
    reps = coll.reps
    pictures = coll.vectors[reps]
    tick = progress or algorithms.quiet
    greedy, radius = algorithms.k_center(pictures, n, tick=tick)
    tick(n, n, "medoid step")
    chosen = reps[algorithms.refine_medoids(pictures, greedy, steps=refine)] if refine else reps[greedy]
    rng = np.random.default_rng(0)
    baseline = reps[rng.choice(len(reps), size=len(chosen), replace=False)]
    report = {
        "n": n,
        "refine": refine,
        "images": len(coll),
        "pictures": len(reps),
        "greedy_radius": round(radius, 6),
        "coverage": round(algorithms.coverage(coll.vectors, chosen), 6),
        "greedy_coverage": round(algorithms.coverage(coll.vectors, reps[greedy]), 6),
        "random_coverage": round(algorithms.coverage(coll.vectors, baseline), 6),
        "seconds": round(time.perf_counter() - started, 3),
    }
    with session_scope(settings) as session:
        save_selection(session, name, "diverse", report, coll.ids[chosen].tolist())
    log.info("curation.diverse name=%s n=%d coverage=%s", name, len(chosen), report["coverage"])
    return {"selections": [{"name": name, "count": len(chosen)}], **report}


def density(
    settings: Settings,
    n: int,
    *,
    unusual: bool,
    name: str | None = None,
    k: int = 10,
    progress: Tick | None = None,
) -> dict[str, Any]:
    """Score every image (typicality and uniqueness, stored) and select the `n` most typical or unusual."""
    if n < 1 or not 1 <= k <= 100:
        raise InvalidRequest("n must be at least 1 and k between 1 and 100")
    method = "unusual" if unusual else "typical"
    name = check_name(name or f"{method}-{n}")
    started = time.perf_counter()
    coll = _collection(settings)
    reps = coll.reps
    tick = progress or algorithms.quiet
    sims, _ = algorithms.knn(coll.vectors[reps], k, exact_limit=settings.duplicates.exact_limit, tick=tick)
    tick(len(reps), len(reps), "saving")
    typical, unique = algorithms.density(sims)
    score = unique if unusual else typical
    top = np.argsort(-score, kind="stable")[:n]
    report = {"n": n, "k": k, "images": len(coll), "pictures": len(reps), "seconds": 0.0}
    with session_scope(settings) as session:
        replace_scores(
            session,
            coll.ids.tolist(),
            _spread(coll, unique, reps).tolist(),
            _spread(coll, typical, reps).tolist(),
        )
        report["seconds"] = round(time.perf_counter() - started, 3)
        save_selection(session, name, method, report, coll.ids[reps[top]].tolist(), score[top].tolist())
    return {"selections": [{"name": name, "count": len(top)}], **report}


def _labels(session: Session, ids: np.ndarray, clusters: np.ndarray, k: int) -> list[str]:
    """Each cluster's label: the tag most over-represented in it (share x log inverse frequency)."""
    per_cluster: dict[int, Counter[str]] = defaultdict(Counter)
    overall: Counter[str] = Counter()
    cluster_of = dict(zip(ids.tolist(), clusters.tolist(), strict=True))
    for part in in_chunks(ids.tolist()):
        for image_id, tag in session.execute(
            select(ImageTag.image_id, ImageTag.tag).where(ImageTag.image_id.in_(part))
        ):
            per_cluster[cluster_of[int(image_id)]][tag] += 1
            overall[tag] += 1
    sizes = np.bincount(clusters, minlength=k)
    out = []
    for c in range(k):
        best, best_score = "", 0.0
        for tag, count in per_cluster[c].items():
            share = count / max(int(sizes[c]), 1)
            lift = share * len(ids) / overall[tag]  # how much likelier in the cluster than overall
            value = share * math.log(len(ids) / overall[tag]) if share >= 0.25 and lift >= 2 else 0.0
            if value > best_score:
                best, best_score = tag, value
        out.append(best or "untagged")
    return out


def clusters(
    settings: Settings, k: int, name: str | None = None, seed: int = 0, progress: Tick | None = None
) -> dict[str, Any]:
    """`k` clusters by spherical k-means over the pictures, each a selection `<name>/<nn>-<label>`."""
    if not 2 <= k <= 10_000:
        raise InvalidRequest("k must be between 2 and 10000")
    name = check_name(name or f"clusters-{k}")
    started = time.perf_counter()
    coll = _collection(settings)
    reps = coll.reps
    tick = progress or algorithms.quiet
    tick(0, 2, "k-means")
    centroids, per_rep = algorithms.kmeans(coll.vectors[reps], k, seed=seed)
    tick(1, 2, "labels")
    labels = _spread(coll, per_rep, reps)
    k = len(centroids)
    with session_scope(settings) as session:
        names = _labels(session, coll.ids, labels, k)
        drop_prefix(session, f"{name}/")
        made = []
        for c in range(k):
            rows = np.flatnonzero(labels == c)
            if not len(rows):
                continue
            # Members nearest the centre first: browsing a cluster starts with its most typical picture.
            sims = coll.vectors[rows] @ centroids[c]
            order = np.argsort(-sims, kind="stable")
            selection = f"{name}/{c:02d}-{names[c]}"
            params = {"k": k, "cluster": c, "label": names[c], "seed": seed}
            save_selection(
                session, selection, "cluster", params, coll.ids[rows[order]].tolist(), sims[order].tolist()
            )
            made.append({"name": selection, "count": len(rows), "label": names[c]})
    return {
        "selections": made,
        "k": k,
        "images": len(coll),
        "seconds": round(time.perf_counter() - started, 3),
    }


def splits(
    settings: Settings,
    ratios: list[float],
    name: str = "split",
    *,
    seed: int = 0,
    retake_cosine: float | None = None,
    split_names: list[str] | None = None,
    progress: Tick | None = None,
) -> dict[str, Any]:
    """Train/val/test (by `ratios`) where no duplicate group, pair or cluster of retakes straddles two splits.

    Reports the linked pairs that cross splits (0 by construction) and how many a random
    image-by-image split of the same ratios would leak.
    """
    if not 1 <= len(ratios) <= 10 or any(r <= 0 for r in ratios):
        raise InvalidRequest("ratios: one to ten positive numbers, e.g. 0.8,0.1,0.1")
    labels = split_names or list(SPLIT_NAMES.get(len(ratios), [f"part{i}" for i in range(len(ratios))]))
    if len(labels) != len(ratios) or len(set(labels)) != len(labels):
        raise InvalidRequest("give one distinct name per ratio")
    name = check_name(name)
    for label in labels:
        check_name(f"{name}/{label}")
    threshold = settings.duplicates.similar_threshold if retake_cosine is None else retake_cosine
    started = time.perf_counter()
    tick = progress or algorithms.quiet
    coll = _collection(settings)
    tick(0, 3, "retakes")
    retakes, _ = cls_candidates(
        coll.vectors,
        k=settings.duplicates.knn,
        min_score=threshold,
        exact_limit=settings.duplicates.exact_limit,
        batch=settings.duplicates.memory_mb * 16,
    )
    pairs = np.concatenate([coll.pairs, retakes]) if len(retakes) else coll.pairs
    tick(1, 3, "units")
    units = algorithms.components(len(coll), pairs)
    split = algorithms.assign_splits(units, ratios, seed)
    random = algorithms.random_splits(len(coll), ratios, seed)
    report: dict[str, Any] = {
        "ratios": ratios,
        "seed": seed,
        "retake_cosine": threshold,
        "images": len(coll),
        "linked_pairs": len(pairs),
        "retake_pairs": len(retakes),
        "units": len(np.unique(units)),
        "leaked_pairs": algorithms.leaks(pairs, split),
        "random_split_leaked_pairs": algorithms.leaks(pairs, random),
    }
    made = []
    with session_scope(settings) as session:
        drop_prefix(session, f"{name}/")
        report["seconds"] = round(time.perf_counter() - started, 3)
        for s, label in enumerate(labels):
            rows = np.flatnonzero(split == s)
            save_selection(
                session, f"{name}/{label}", "split", {**report, "split": label}, coll.ids[rows].tolist()
            )
            made.append({"name": f"{name}/{label}", "count": len(rows)})
    return {"selections": made, **report}


def drop_prefix(session: Session, prefix: str) -> None:
    """Remove the selections a previous run under the same name wrote (`name/...`)."""
    old = list(
        session.scalars(select(Selection.id).where(Selection.name.startswith(prefix, autoescape=True)))
    )
    if old:
        session.execute(delete(SelectionMember).where(SelectionMember.selection_id.in_(old)))
        session.execute(delete(Selection).where(Selection.id.in_(old)))


# --- reading selections ----------------------------------------------------------------------


def list_selections(session: Session) -> list[dict[str, Any]]:
    rows = session.scalars(select(Selection).order_by(Selection.name)).all()
    return [_describe(s) for s in rows]


def _describe(s: Selection) -> dict[str, Any]:
    return {
        "name": s.name,
        "method": s.method,
        "count": s.count,
        "params": s.params,
        "created_at": s.created_at.isoformat(),
    }


def get_selection(session: Session, name: str, offset: int = 0, limit: int = 1000) -> dict[str, Any]:
    found = session.scalars(select(Selection).where(Selection.name == name)).first()
    if found is None:
        raise SelectionNotFound(f"no selection named {name!r}")
    members = session.execute(
        select(SelectionMember.image_id, SelectionMember.score)
        .where(SelectionMember.selection_id == found.id)
        .order_by(SelectionMember.position)
        .offset(offset)
        .limit(limit)
    ).all()
    return {**_describe(found), "images": [{"id": int(i), "score": s} for i, s in members]}


def export_selection(session: Session, name: str) -> str:
    """A selection as CSV: one row per image, in its order (position, id, bucket, key, score)."""
    import csv
    import io

    from pixseek.index.catalog.images import Image

    found = session.scalars(select(Selection).where(Selection.name == name)).first()
    if found is None:
        raise SelectionNotFound(f"no selection named {name!r}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["position", "image_id", "bucket", "key", "score"])
    rows = session.execute(
        select(SelectionMember.position, Image.id, Image.bucket, Image.key, SelectionMember.score)
        .join(Image, Image.id == SelectionMember.image_id)
        .where(SelectionMember.selection_id == found.id)
        .order_by(SelectionMember.position)
    )
    for position, image_id, bucket, key, score in rows:
        writer.writerow([position, image_id, bucket, key, "" if score is None else f"{score:.6f}"])
    return out.getvalue()


def scores(session: Session, order: str = "uniqueness", limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """Images by uniqueness or typicality, highest first (the last density job's scores)."""
    if order not in ("uniqueness", "typicality"):
        raise InvalidRequest("order must be uniqueness or typicality")
    column = ImageScore.uniqueness if order == "uniqueness" else ImageScore.typicality
    total = int(session.scalar(select(func.count()).select_from(ImageScore)) or 0)
    rows = session.execute(
        select(ImageScore.image_id, ImageScore.uniqueness, ImageScore.typicality)
        .order_by(column.desc(), ImageScore.image_id)
        .offset(offset)
        .limit(limit)
    ).all()
    return {
        "total": total,
        "order": order,
        "images": [{"id": int(i), "uniqueness": float(u), "typicality": float(t)} for i, u, t in rows],
    }
