"""The collection as curation sees it: CLS vectors of searchable images, with every copy
mapped to one representative (its duplicate group's keeper), and the links a split keeps together."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from pixseek.core.active_model import follow_switch
from pixseek.core.settings import Settings
from pixseek.index.catalog.duplicates import DuplicateGroup, DuplicateMember, DuplicatePair, GroupStatus
from pixseek.index.catalog.images import SEARCHABLE, Image
from pixseek.model.identity import ModelId
from pixseek.search.duplicates.store import load_vectors


@dataclass
class Collection:
    ids: np.ndarray  # (N,) int64 image ids, ascending
    vectors: np.ndarray  # (N, dim) float32, L2-normalised
    rep: np.ndarray  # (N,) row of each image's representative (itself unless a copy)
    pairs: np.ndarray  # (P, 2) rows of stored duplicate pairs (every tier) and group links

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def reps(self) -> np.ndarray:
        """Rows that represent themselves: each picture once, copies counted once."""
        return np.flatnonzero(self.rep == np.arange(len(self.rep)))

    def rows_of(self, image_ids: np.ndarray) -> np.ndarray:
        rows = np.searchsorted(self.ids, image_ids)
        rows = np.clip(rows, 0, max(len(self.ids) - 1, 0))
        return rows[(len(self.ids) > 0) & (self.ids[rows] == image_ids)] if len(self.ids) else rows[:0]


def load(session: Session, settings: Settings) -> Collection:
    """Every searchable image of the served model with its vector; copies linked to their keeper.

    Groups dismissed as "not duplicates" link nothing. Memory: N x dim float32 (2 GB at
    1M images of 512-d) plus the pairs.
    """
    model = ModelId.of(follow_switch(settings)).key
    all_ids = np.asarray(
        sorted(
            session.scalars(select(Image.id).where(Image.status.in_(list(SEARCHABLE)), Image.model == model))
        ),
        dtype=np.int64,
    )
    rows, vectors = load_vectors(session, all_ids, model)
    ids = all_ids[rows] if len(rows) else np.empty(0, dtype=np.int64)
    n = len(ids)
    rep = np.arange(n, dtype=np.int64)
    links: list[tuple[int, int]] = []
    members = session.execute(
        select(DuplicateMember.image_id, DuplicateGroup.keeper_id)
        .join(DuplicateGroup, DuplicateGroup.id == DuplicateMember.group_id)
        .where(DuplicateGroup.status != GroupStatus.DISMISSED)
    ).all()
    if n and members:
        member_ids = np.asarray([m for m, _ in members], dtype=np.int64)
        keeper_ids = np.asarray([k for _, k in members], dtype=np.int64)
        m_rows, k_rows = _rows(ids, member_ids), _rows(ids, keeper_ids)
        ok = (m_rows >= 0) & (k_rows >= 0)
        rep[m_rows[ok]] = k_rows[ok]
        links.extend(zip(m_rows[ok].tolist(), k_rows[ok].tolist(), strict=True))
    stored = session.execute(select(DuplicatePair.image_a, DuplicatePair.image_b)).all()
    if n and stored:
        a = _rows(ids, np.asarray([x for x, _ in stored], dtype=np.int64))
        b = _rows(ids, np.asarray([y for _, y in stored], dtype=np.int64))
        ok = (a >= 0) & (b >= 0)
        links.extend(zip(a[ok].tolist(), b[ok].tolist(), strict=True))
    pairs = np.asarray(links, dtype=np.int64).reshape(-1, 2)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return Collection(ids=ids, vectors=vectors.reshape(n, -1) if n else vectors, rep=rep, pairs=pairs)


def _rows(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Rows of `wanted` ids in sorted `ids`; -1 for ids not there."""
    if not len(ids):
        return np.full(len(wanted), -1, dtype=np.int64)
    pos = np.clip(np.searchsorted(ids, wanted), 0, len(ids) - 1)
    return np.where(ids[pos] == wanted, pos, -1).astype(np.int64)
