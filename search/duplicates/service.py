"""Duplicate detection over the catalog: find pairs, group them, record decisions, check one image.

Detection is incremental: images whose signature is new (or changed) since the last run
are compared against the whole collection; everything else keeps the pairs found before.
Groups are then rebuilt from the stored pairs, leaving out every pair a user decided on.
Nothing here ever touches a user's files: resolving a group only records which images to
keep and which to remove or hide.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from pixseek.core.db import utcnow
from pixseek.core.errors import InvalidRequest, PayloadTooLarge, PixseekError, UnsupportedImage
from pixseek.core.settings import Settings
from pixseek.index.catalog import SEARCHABLE, Image
from pixseek.index.duplicates import (
    Decision,
    DuplicateDecision,
    DuplicateGroup,
    DuplicateMember,
    DuplicatePair,
    GroupStatus,
    ImageHash,
    Kind,
    Role,
)
from pixseek.media.decode import DecodeError, decode_image
from pixseek.media.perceptual_hash import (
    VERSION,
    Signature,
    hamming,
    signature,
)
from pixseek.media.sources import SourceError, open_source
from pixseek.model.identity import ModelId
from pixseek.search.duplicates.candidates import CANDIDATE_SLACK
from pixseek.search.duplicates.detect import SearchLimits, find_matches
from pixseek.search.duplicates.grouping import Star, classes, star_groups
from pixseek.search.duplicates.keeper import keeper_reason, rank_key
from pixseek.search.duplicates.matching import Matches, Rules, classify
from pixseek.search.duplicates.store import CHUNK, Collection, load_collection, load_facts, load_vectors

if TYPE_CHECKING:
    from pixseek.search.service import SearchService

log = logging.getLogger(__name__)

ACTIONS = ("remove", "hide")


class GroupNotFound(PixseekError):
    status_code = 404
    code = "group_not_found"


class GroupDecided(PixseekError):
    status_code = 409
    code = "group_decided"


@dataclass
class DetectSummary:
    images: int
    compared: int
    pairs_found: int
    groups: dict[str, int] = field(default_factory=dict)
    backfilled: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "compared": self.compared,
            "pairs_found": self.pairs_found,
            "backfilled": self.backfilled,
            "groups": self.groups,
        }


def rules_for(settings: Settings) -> Rules:
    cfg = settings.duplicates
    return Rules(
        near_hash_distance=cfg.near_hash_distance,
        near_patch_agreement=cfg.near_patch_agreement,
        similar_threshold=None if settings.random_weights else cfg.similar_threshold,
    )


def query_batch(settings: Settings) -> int:
    """Images per FAISS query batch, from the memory budget.

    A batch of hash queries can return up to a few hundred neighbours per image; a batch of
    CLS queries holds k scores and ids. 64 KiB per queried image is a generous bound for both.
    """
    return max(256, settings.duplicates.memory_mb * 1024 // 64)


def _sha_pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


class DuplicateService:
    """Duplicate detection and decisions for one pixseek configuration.

    Example:
        >>> service = DuplicateService(settings)
        >>> with session_scope(settings) as session:
        ...     service.detect(session)
        ...     total, groups = service.list_groups(session, kind="near")
    """

    def __init__(self, settings: Settings, search: SearchService | None = None) -> None:
        """`search` is the process's search service when it has one (the API's), so checking
        an image reuses its loaded model and index instead of loading them again."""
        self.settings = settings
        self.rules = rules_for(settings)
        self._search = search

    @property
    def search(self) -> SearchService:
        if self._search is None:
            from pixseek.search.service import SearchService

            self._search = SearchService(self.settings)
        return self._search

    # -- detection -------------------------------------------------------------------------

    def detect(self, session: Session, *, full: bool = False) -> DetectSummary:
        """Compare new images (all images when `full`) and rebuild the open groups."""
        backfilled = self._backfill(session)
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
            matches = self._match(session, collection, query_rows)
            found = self._store_pairs(session, collection, matches)
        self._mark_checked(session, collection, query_rows)
        groups = self.regroup(session)
        summary = DetectSummary(
            images=n, compared=compared, pairs_found=found, groups=groups, backfilled=backfilled
        )
        log.info("duplicates.detected %s", summary.as_dict())
        return summary

    def _match(self, session: Session, collection: Collection, query_rows: np.ndarray | None) -> Matches:
        cfg = self.settings.duplicates
        limits = SearchLimits(knn=cfg.knn, exact_limit=cfg.exact_limit, batch=query_batch(self.settings))
        vector_rows, vectors = load_vectors(session, collection.ids, ModelId.of(self.settings).key)
        return find_matches(
            collection.codes,
            collection.thumbs,
            self.rules,
            limits,
            vectors=vectors if len(vector_rows) >= 2 else None,
            vector_rows=vector_rows,
            query_rows=query_rows,
        )

    def _store_pairs(self, session: Session, collection: Collection, matches: Matches) -> int:
        if not len(matches):
            return 0
        ids = collection.ids
        a_ids, b_ids = ids[matches.pairs[:, 0]], ids[matches.pairs[:, 1]]
        # Pairs already stored (from a previous run) are replaced by the fresh comparison.
        for start in range(0, len(a_ids), CHUNK):
            pa = a_ids[start : start + CHUNK].tolist()
            involved = sorted(set(pa) | set(b_ids[start : start + CHUNK].tolist()))
            existing = session.execute(
                select(DuplicatePair.id, DuplicatePair.image_a, DuplicatePair.image_b).where(
                    DuplicatePair.image_a.in_(involved)
                )
            ).all()
            wanted = set(zip(pa, b_ids[start : start + CHUNK].tolist(), strict=True))
            stale = [pid for pid, a, b in existing if (a, b) in wanted]
            if stale:
                session.execute(delete(DuplicatePair).where(DuplicatePair.id.in_(stale)))
        now = utcnow()
        rows = [
            {
                "image_a": int(a_ids[i]),
                "image_b": int(b_ids[i]),
                "kind": str(matches.kinds[i]),
                "score": float(matches.scores[i]),
                "hash_distance": int(matches.distance[i]),
                "patch_agreement": float(matches.agreement[i]),
                "cls_score": None if np.isnan(matches.cls[i]) else float(matches.cls[i]),
                "reason": matches.reason(i, (f"#{a_ids[i]}", f"#{b_ids[i]}")),
                "found_at": now,
            }
            for i in range(len(matches))
        ]
        for start in range(0, len(rows), CHUNK):
            session.execute(insert(DuplicatePair), rows[start : start + CHUNK])
        return len(rows)

    def _mark_checked(self, session: Session, collection: Collection, query_rows: np.ndarray | None) -> None:
        ids = collection.ids if query_rows is None else collection.ids[query_rows]
        now = utcnow()
        for start in range(0, len(ids), CHUNK):
            session.execute(
                update(ImageHash)
                .where(ImageHash.image_id.in_(ids[start : start + CHUNK].tolist()))
                .values(checked_at=now)
                .execution_options(synchronize_session=False)
            )

    def _backfill(self, session: Session) -> int:
        """Signatures for searchable images that have none (indexed before this feature)."""
        missing = session.execute(
            select(Image.id, Image.bucket, Image.key)
            .outerjoin(ImageHash, ImageHash.image_id == Image.id)
            .where(
                Image.status.in_(list(SEARCHABLE)),
                or_(ImageHash.image_id.is_(None), ImageHash.version != VERSION),
            )
        ).all()
        done = 0
        by_bucket: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for image_id, bucket, key in missing:
            by_bucket[bucket].append((int(image_id), key))
        for bucket, items in by_bucket.items():
            try:
                source = open_source(bucket, self.settings)
            except PixseekError as exc:
                log.warning("duplicates.backfill_skipped bucket=%s reason=%s", bucket, exc.detail)
                continue
            for image_id, key in items:
                try:
                    data = source.read(key, self.settings.max_file_bytes)
                    decoded = decode_image(data, max_pixels=self.settings.max_image_pixels, draft_size=256)
                except (SourceError, DecodeError) as exc:
                    log.warning("duplicates.backfill_failed key=%s reason=%s", key, exc)
                    continue
                session.merge(ImageHash.fresh(image_id, signature(decoded.image)))
                done += 1
        session.flush()
        return done

    # -- grouping --------------------------------------------------------------------------

    def regroup(self, session: Session) -> dict[str, int]:
        """Rebuild every open group from the stored pairs and the catalog's sha256 classes."""
        order = self.settings.duplicates.keeper_order
        decided = {
            (a, b) for a, b in session.execute(select(DuplicateDecision.sha_a, DuplicateDecision.sha_b))
        }
        dup_shas = select(Image.sha256).where(Image.status.in_(list(SEARCHABLE)), Image.sha256.is_not(None))
        dup_shas = dup_shas.group_by(Image.sha256).having(func.count() > 1)
        exact_rows = session.execute(
            select(Image.id, Image.sha256).where(
                Image.status.in_(list(SEARCHABLE)), Image.sha256.in_(dup_shas)
            )
        ).all()
        pair_rows = session.execute(
            select(
                DuplicatePair.image_a,
                DuplicatePair.image_b,
                DuplicatePair.kind,
                DuplicatePair.score,
                DuplicatePair.reason,
            )
        ).all()
        involved = sorted(
            {int(i) for i, _ in exact_rows} | {int(r[0]) for r in pair_rows} | {int(r[1]) for r in pair_rows}
        )
        facts = load_facts(session, involved)
        sha = {i: row.sha256 or "" for i, (_, row) in facts.items()}

        def rank(image_id: int) -> tuple[float, ...]:
            return rank_key(facts[image_id][0], order)

        stars: list[tuple[Kind, Star]] = []
        representative: dict[int, int] = {}
        for members in classes((int(i), s) for i, s in exact_rows):
            members = [m for m in members if m in facts]
            if len(members) < 2 or _sha_pair(sha[members[0]], sha[members[0]]) in decided:
                continue
            members.sort(key=rank)
            keep = members[0]
            for other in members[1:]:
                representative[other] = keep
            stars.append(
                (
                    Kind.EXACT,
                    Star(keeper=keep, members={m: (1.0, "exact: same bytes (sha256)") for m in members[1:]}),
                )
            )

        def edges(kind: Kind, mapping: dict[int, int]) -> Iterable[tuple[int, int, Any]]:
            best: dict[tuple[int, int], tuple[float, str]] = {}
            for a, b, k, score, reason in pair_rows:
                a, b = int(a), int(b)
                if k != kind or a not in facts or b not in facts:
                    continue
                if sha[a] == sha[b] or _sha_pair(sha[a], sha[b]) in decided:
                    continue
                ra, rb = mapping.get(a, a), mapping.get(b, b)
                if ra == rb:
                    continue
                key = (min(ra, rb), max(ra, rb))
                if key not in best or score > best[key][0]:
                    best[key] = (float(score), reason)
            return ((a, b, payload) for (a, b), payload in best.items())

        near = star_groups(edges(Kind.NEAR, representative), rank)
        stars.extend((Kind.NEAR, s) for s in near)
        to_centre = dict(representative)
        for star in near:
            for member in star.members:
                to_centre[member] = star.keeper
        for member, keep in representative.items():
            to_centre[member] = to_centre.get(keep, keep)
        if self.rules.similar_threshold is not None:
            stars.extend((Kind.SIMILAR, s) for s in star_groups(edges(Kind.SIMILAR, to_centre), rank))

        session.execute(delete(DuplicateGroup).where(DuplicateGroup.status == GroupStatus.OPEN))
        counts = {kind.value: 0 for kind in Kind}
        for kind, star in stars:
            keeper_facts = facts[star.keeper][0]
            member_facts = [facts[m][0] for m in star.members]
            group = DuplicateGroup(
                kind=kind.value,
                status=GroupStatus.OPEN,
                keeper_id=star.keeper,
                keeper_reason=keeper_reason(keeper_facts, member_facts, order),
            )
            session.add(group)
            session.flush()
            session.add(
                DuplicateMember(
                    group_id=group.id,
                    image_id=star.keeper,
                    position=0,
                    role=Role.KEEP,
                    score=1.0,
                    reason=group.keeper_reason,
                )
            )
            ranked = sorted(star.members.items(), key=lambda item: (-item[1][0], item[0]))
            for position, (member, (score, reason)) in enumerate(ranked, 1):
                session.add(
                    DuplicateMember(
                        group_id=group.id,
                        image_id=member,
                        position=position,
                        role=Role.MEMBER,
                        score=score,
                        reason=reason,
                    )
                )
            counts[kind.value] += 1
        session.flush()
        return counts

    # -- reading groups --------------------------------------------------------------------

    def list_groups(
        self,
        session: Session,
        *,
        kind: str | None = None,
        status: str = GroupStatus.OPEN,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[int, list[dict[str, Any]]]:
        """(total, one page of groups) with the given kind and status, newest last."""
        if kind is not None and kind not in {k.value for k in Kind}:
            raise InvalidRequest(f"kind must be one of exact, near, similar; got {kind!r}")
        if status not in {s.value for s in GroupStatus}:
            raise InvalidRequest(f"status must be one of open, resolved, dismissed; got {status!r}")
        if offset < 0 or not 1 <= limit <= self.settings.max_results:
            raise InvalidRequest(f"offset must be >= 0 and limit between 1 and {self.settings.max_results}")
        stmt = select(DuplicateGroup).where(DuplicateGroup.status == status)
        if kind is not None:
            stmt = stmt.where(DuplicateGroup.kind == kind)
        total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
        groups = session.scalars(stmt.order_by(DuplicateGroup.id).offset(offset).limit(limit)).all()
        return total, self._views(session, list(groups))

    def get_group(self, session: Session, group_id: int) -> dict[str, Any]:
        return self._views(session, [self._group(session, group_id)])[0]

    def _group(self, session: Session, group_id: int) -> DuplicateGroup:
        group = session.get(DuplicateGroup, group_id)
        if group is None:
            raise GroupNotFound(f"no duplicate group with id {group_id}")
        return group

    def _views(self, session: Session, groups: list[DuplicateGroup]) -> list[dict[str, Any]]:
        if not groups:
            return []
        members = session.scalars(
            select(DuplicateMember)
            .where(DuplicateMember.group_id.in_([g.id for g in groups]))
            .order_by(DuplicateMember.group_id, DuplicateMember.position)
        ).all()
        images = {
            row.id: row
            for row in session.scalars(select(Image).where(Image.id.in_({m.image_id for m in members})))
        }
        by_group: dict[int, list[DuplicateMember]] = defaultdict(list)
        for member in members:
            by_group[member.group_id].append(member)
        views = []
        for group in groups:
            items = []
            for member in by_group[group.id]:
                image = images.get(member.image_id)
                items.append(
                    {
                        "id": member.image_id,
                        "bucket": image.bucket if image else None,
                        "key": image.key if image else None,
                        "score": round(member.score, 6),
                        "reason": member.reason,
                        "role": member.role,
                        "present": image is not None and image.status in SEARCHABLE,
                    }
                )
            views.append(
                {
                    "id": group.id,
                    "kind": group.kind,
                    "status": group.status,
                    "keep": group.keeper_id,
                    "action": group.action,
                    "images": items,
                }
            )
        return views

    # -- decisions -------------------------------------------------------------------------

    def _decide(self, session: Session, group: DuplicateGroup, decision: Decision) -> None:
        members = session.scalars(
            select(DuplicateMember.image_id).where(DuplicateMember.group_id == group.id)
        ).all()
        rows = session.execute(select(Image.id, Image.sha256).where(Image.id.in_(list(members)))).all()
        shas = sorted((str(sha), int(i)) for i, sha in rows if sha)
        existing = {
            (a, b)
            for a, b in session.execute(
                select(DuplicateDecision.sha_a, DuplicateDecision.sha_b).where(
                    DuplicateDecision.sha_a.in_([s for s, _ in shas])
                )
            )
        }
        # Every pair of the group is decided, so no later grouping can put any two together again.
        for x in range(len(shas)):
            for y in range(x + 1, len(shas)):
                (sa, ia), (sb, ib) = shas[x], shas[y]
                if (sa, sb) in existing:
                    continue
                existing.add((sa, sb))
                session.add(
                    DuplicateDecision(
                        sha_a=sa, sha_b=sb, image_a=ia, image_b=ib, decision=decision.value, group_id=group.id
                    )
                )
        group.decided_at = utcnow()

    def resolve(
        self, session: Session, group_id: int, *, keep: list[int] | None = None, action: str = "hide"
    ) -> dict[str, Any]:
        """Keep `keep` (default: the suggested keeper); mark the others to remove or hide.

        Only records the decision: pixseek never deletes a user's file.
        """
        if action not in ACTIONS:
            raise InvalidRequest(f"action must be one of {', '.join(ACTIONS)}; got {action!r}")
        group = self._group(session, group_id)
        if group.status != GroupStatus.OPEN:
            raise GroupDecided(f"group {group_id} is already {group.status}")
        members = session.scalars(select(DuplicateMember).where(DuplicateMember.group_id == group.id)).all()
        ids = {m.image_id for m in members}
        kept = set(keep) if keep else {group.keeper_id}
        unknown = kept - ids
        if unknown:
            raise InvalidRequest(f"images {sorted(unknown)} are not in group {group_id}")
        for member in members:
            member.role = Role.KEEP if member.image_id in kept else Role.DUPLICATE
        group.status, group.action = GroupStatus.RESOLVED, action
        self._decide(session, group, Decision.RESOLVED)
        session.flush()
        log.info("duplicates.resolved group=%d keep=%s action=%s", group_id, sorted(kept), action)
        return self.get_group(session, group_id)

    def dismiss(self, session: Session, group_id: int) -> dict[str, Any]:
        """Mark the group "not duplicates": none of its pairs will be grouped again."""
        group = self._group(session, group_id)
        if group.status != GroupStatus.OPEN:
            raise GroupDecided(f"group {group_id} is already {group.status}")
        group.status = GroupStatus.DISMISSED
        self._decide(session, group, Decision.DISMISSED)
        session.flush()
        log.info("duplicates.dismissed group=%d", group_id)
        return self.get_group(session, group_id)

    # -- one image, before ingest ----------------------------------------------------------

    def check(self, session: Session, data: bytes, *, max_bytes: int | None = None) -> dict[str, Any]:
        """Exact, near and similar copies of an image in the collection; writes nothing.

        Raises:
            PayloadTooLarge, InvalidRequest: too big or empty.
            UnsupportedImage: the bytes are not a decodable image.
        """
        limit = max_bytes or self.settings.max_upload_bytes
        if not data:
            raise InvalidRequest("the image is empty")
        if len(data) > limit:
            raise PayloadTooLarge(f"image is {len(data)} bytes; the limit is {limit}")
        try:
            decoded = decode_image(data, max_pixels=self.settings.max_image_pixels, draft_size=256)
        except DecodeError as exc:
            raise UnsupportedImage(exc.reason) from exc
        digest = hashlib.sha256(data).hexdigest()
        matches: dict[int, tuple[str, float, str]] = {}
        for image_id in session.scalars(
            select(Image.id).where(Image.sha256 == digest, Image.status.in_(list(SEARCHABLE)))
        ):
            matches[int(image_id)] = (Kind.EXACT.value, 1.0, "exact: same bytes (sha256)")
        for image_id, kind, score, reason in self._check_near(session, signature(decoded.image)):
            matches.setdefault(image_id, (kind, score, reason))
        if self.rules.similar_threshold is not None:
            for image_id, score in self._check_similar(session, data):
                matches.setdefault(image_id, (Kind.SIMILAR.value, score, f"similar: CLS cosine {score:.3f}"))
        rows = {r.id: r for r in session.scalars(select(Image).where(Image.id.in_(list(matches))))}
        tier = {Kind.EXACT.value: 0, Kind.NEAR.value: 1, Kind.SIMILAR.value: 2}
        found = sorted(matches.items(), key=lambda kv: (tier[kv[1][0]], -kv[1][1], kv[0]))
        results = [
            {
                "id": i,
                "bucket": rows[i].bucket,
                "key": rows[i].key,
                "kind": k,
                "score": round(s, 6),
                "reason": r,
            }
            for i, (k, s, r) in found
            if i in rows
        ]
        verdict = results[0]["kind"] if results else "none"
        return {"sha256": digest, "verdict": verdict, "matches": results}

    def _check_near(self, session: Session, sig: Signature) -> list[tuple[int, str, float, str]]:
        collection = load_collection(session)
        if not len(collection.ids):
            return []
        query = np.stack([sig.codes, sig.mirror])  # (2, S, 8)
        # Brute force over the collection's codes: N x 32 crop/mirror pairs of 64-bit codes.
        out: list[tuple[int, str, float, str]] = []
        radius = self.rules.near_hash_distance + CANDIDATE_SLACK
        for start in range(0, len(collection.ids), CHUNK):
            part = collection.codes[start : start + CHUNK, 0]  # (n, S, 8)
            dist = hamming(query.reshape(1, -1, 1, 8), part[:, None, :, :]).min(axis=(1, 2))
            rows = start + np.flatnonzero(dist <= radius)
            if not len(rows):
                continue
            matched = self._classify_against(sig, collection, rows)
            out.extend(matched)
        return out

    def _classify_against(
        self, sig: Signature, collection: Collection, rows: np.ndarray
    ) -> list[tuple[int, str, float, str]]:
        codes = np.concatenate([np.stack([sig.codes, sig.mirror])[None], collection.codes[rows]])
        thumbs = np.concatenate([sig.thumbs[None], collection.thumbs[rows]])
        pairs = np.stack([np.zeros(len(rows), dtype=np.int64), np.arange(1, len(rows) + 1)], axis=1)
        matched = classify(pairs, np.full(len(rows), np.nan, dtype=np.float32), codes, thumbs, self.rules)
        out: list[tuple[int, str, float, str]] = []
        for i in range(len(matched)):
            image_id = int(collection.ids[rows[int(matched.pairs[i, 1]) - 1]])
            reason = matched.reason(i, ("this image", f"#{image_id}"))
            out.append((image_id, str(matched.kinds[i]), float(matched.scores[i]), reason))
        return out

    def _check_similar(self, session: Session, data: bytes) -> list[tuple[int, float]]:
        search = self.search
        if search.holder.get() is None:
            return []
        vector = search.embed_image_bytes(data, max_bytes=len(data))
        threshold = self.rules.similar_threshold if self.rules.similar_threshold is not None else 1.0
        hits = search.search_vector(session, vector, k=self.settings.duplicates.knn, min_score=threshold)
        return [(hit.id, hit.score) for hit in hits]
