"""Check one image before ingest: exact, near and similar copies already in the collection.

Nothing is written. Exact copies come from the sha256 column, near ones from the image's
signature against every stored signature, similar ones from a CLS search of the index,
each then checked for layout against its stored patch tokens as detection checks pairs
(layout.py; the upload's tokens are made as ingest makes them, upload.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from pixseek.core.errors import InvalidRequest, PayloadTooLarge
from pixseek.core.settings import Settings
from pixseek.index.catalog.duplicates import Kind
from pixseek.index.catalog.images import SEARCHABLE, Image
from pixseek.index.vectors.patch_store import PatchStore
from pixseek.media.decode import decode_image
from pixseek.media.perceptual_hash import DIHEDRAL, HASH_ROWS, Signature, hamming, signature
from pixseek.search.duplicates.layout import LayoutRule, layout_agreement
from pixseek.search.duplicates.matching import EXACT_REASON, Rules, classify, similar_reason
from pixseek.search.duplicates.store import CHUNK, Collection, load_collection
from pixseek.search.duplicates.upload import UploadEmbedding

if TYPE_CHECKING:
    from pixseek.search.service import SearchService

TIER = {Kind.EXACT.value: 0, Kind.NEAR.value: 1, Kind.CONTAINED.value: 2, Kind.SIMILAR.value: 3}


@dataclass(frozen=True)
class CheckMatch:
    id: int
    bucket: str
    key: str
    kind: str
    score: float
    reason: str


@dataclass(frozen=True)
class CheckResult:
    sha256: str
    verdict: str  # exact, near, contained, similar or none: the closest tier found
    matches: list[CheckMatch]  # best tier first, then best score

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# (image id, kind, score, reason)
Found = tuple[int, str, float, str]


class DuplicateCheck:
    """Checks uploads against the collection, sharing a search service for the CLS tier."""

    def __init__(self, settings: Settings, search: SearchService | None = None) -> None:
        """`search` is the process's search service when it has one (the API's), so checking
        an image reuses its loaded model and index instead of loading them again."""
        self.settings = settings
        self.rules = Rules.of(settings)
        self.layout = LayoutRule.of(settings)
        self._search = search

    @property
    def search(self) -> SearchService:
        if self._search is None:
            from pixseek.search.service import SearchService

            self._search = SearchService(self.settings)
        return self._search

    def check(self, session: Session, data: bytes, *, max_bytes: int | None = None) -> CheckResult:
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
        # An undecodable upload raises DecodeError, an UnsupportedImage: a 415 for the client.
        decoded = decode_image(data, max_pixels=self.settings.max_image_pixels, draft_size=256)
        digest = hashlib.sha256(data).hexdigest()
        matches: dict[int, tuple[str, float, str]] = {}
        for image_id in session.scalars(
            select(Image.id).where(Image.sha256 == digest, Image.status.in_(list(SEARCHABLE)))
        ):
            matches[int(image_id)] = (Kind.EXACT.value, 1.0, EXACT_REASON)
        for image_id, kind, score, reason in self._near(session, signature(decoded.image)):
            matches.setdefault(image_id, (kind, score, reason))
        if self.rules.similar_threshold is not None:
            for image_id, score, reason in self._similar(session, data):
                matches.setdefault(image_id, (Kind.SIMILAR.value, score, reason))
        rows = {r.id: r for r in session.scalars(select(Image).where(Image.id.in_(list(matches))))}
        found = sorted(matches.items(), key=lambda kv: (TIER[kv[1][0]], -kv[1][1], kv[0]))
        results = [
            CheckMatch(id=i, bucket=rows[i].bucket, key=rows[i].key, kind=k, score=round(s, 6), reason=r)
            for i, (k, s, r) in found
            if i in rows
        ]
        return CheckResult(sha256=digest, verdict=results[0].kind if results else "none", matches=results)

    def _near(self, session: Session, sig: Signature) -> list[Found]:
        collection = load_collection(session)
        if not len(collection.ids):
            return []
        turned, windows = sig.codes[:DIHEDRAL], sig.codes[DIHEDRAL:HASH_ROWS]
        # Brute force over the collection's codes, both ways round: its windows against this
        # image's turned hashes, this image's windows against its turned hashes.
        out: list[Found] = []
        radius = self.rules.near_hash_distance
        for start in range(0, len(collection.ids), CHUNK // 16):
            part = collection.codes[start : start + CHUNK // 16]  # (n, CODE_ROWS, 8)
            theirs = hamming(part[:, DIHEDRAL:HASH_ROWS, None, :], turned[None, None]).min(axis=(1, 2))
            ours = hamming(windows[None, :, None, :], part[:, None, :DIHEDRAL]).min(axis=(1, 2))
            rows = start + np.flatnonzero(np.minimum(theirs, ours) <= radius)
            if len(rows):
                out.extend(self._classify_against(sig, collection, rows))
        return out

    def _classify_against(self, sig: Signature, collection: Collection, rows: np.ndarray) -> list[Found]:
        codes = np.concatenate([sig.codes[None], collection.codes[rows]])
        thumbs = np.concatenate([sig.thumb[None], collection.thumbs[rows]])
        pairs = np.stack([np.zeros(len(rows), dtype=np.int64), np.arange(1, len(rows) + 1)], axis=1)
        matched = classify(pairs, np.full(len(rows), np.nan, dtype=np.float32), codes, thumbs, self.rules)
        out: list[Found] = []
        for i in range(len(matched)):
            image_id = int(collection.ids[rows[int(matched.pairs[i, 1]) - 1]])
            reason = matched.reason(i, ("this image", f"#{image_id}"))
            out.append((image_id, str(matched.kinds[i]), float(matched.scores[i]), reason))
        return out

    def _similar(self, session: Session, data: bytes) -> list[tuple[int, float, str]]:
        """(id, CLS cosine, reason) of the similar images, those that disagree in layout dropped."""
        search = self.search
        if search.holder.get() is None:
            return []
        threshold = self.rules.similar_threshold if self.rules.similar_threshold is not None else 1.0
        upload = UploadEmbedding(self.settings, search.encoder, data)
        hits = search.search_vector(session, upload.cls, k=self.settings.duplicates.knn, min_score=threshold)
        min_agreement = self.layout.min_agreement
        if min_agreement is None or not hits:  # no layout check: CLS alone decides
            return [(hit.id, hit.score, similar_reason(hit.score, None)) for hit in hits]
        store = PatchStore(self.settings.patch_dir)
        rows = select(Image.id, Image.patch_layout).where(Image.id.in_([h.id for h in hits]))
        layouts: dict[int, str | None] = {int(i): layout for i, layout in session.execute(rows)}
        out: list[tuple[int, float, str]] = []
        for hit in hits:
            stored = store.get(hit.id)
            # Without stored tokens the pair cannot be checked: CLS alone decides, as in detection.
            # The upload's grid covers what the stored one covers (whole picture or centre square).
            agreement = (
                float("nan")
                if stored is None
                else layout_agreement(upload.grid(layouts.get(hit.id)), stored, shift=self.layout.shift)
            )
            if not agreement < min_agreement:
                out.append((hit.id, hit.score, similar_reason(hit.score, agreement)))
        return out
