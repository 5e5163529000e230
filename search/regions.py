"""Region search: match a query against image patches, rank images by their best region.

A query vector (a text, or the CLS embedding of an image crop) is searched in the patch
index for candidate patches; the images they belong to are then scored exactly on their
stored fp16 patch grids: cosine similarity per cell, optionally averaged over neighbouring
cells, the best cell giving the region score and the box. The CLS score can be mixed in.

Boxes are in the pixels of the image as displayed (EXIF orientation applied), the same
frame as the catalog's width and height; they always lie inside the part of the image
that has patches (`pixseek.model.cells`).

A query can also be a region of a cataloged image (`search_region`): a box drawn on it,
turned into one vector from its stored patches (`search/region_query.py`).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import faiss
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from pixseek.core.errors import IndexNotReady, InvalidRequest
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import SEARCHABLE, Image, ImageVector, get_searchable_image, images_by_ids
from pixseek.index.vectors.patch_index import (
    LoadedPatchIndex,
    PatchIndexHolder,
    PatchManifest,
    search_index,
)
from pixseek.index.vectors.patch_store import PatchStore
from pixseek.index.vectors.patch_sync import effective_patch_mode, patch_index_store
from pixseek.model.cells import CellGrid
from pixseek.model.identity import ModelId
from pixseek.model.preprocess import Geometry
from pixseek.search.filters import Filters, conditions
from pixseek.search.limits import MAX_SMOOTH
from pixseek.search.region_query import image_cells, region_vector
from pixseek.search.service import SearchService

log = logging.getLogger(__name__)

# Cells whose score is at least this far from the image's median towards its best cell
# join the best cell's box (when they touch it).
BOX_LEVEL = 0.5
# Above this many allowed images a filter is applied after the index search, not inside it.
MAX_SELECTOR_IMAGES = 200_000


def cells_to_box(
    geometry: Geometry,
    grid: tuple[int, int],
    rows: tuple[int, int],
    cols: tuple[int, int],
    size: tuple[int, int],
) -> list[int]:
    """Displayed-pixel box [x0, y0, x1, y1] covering cells rows[0]..rows[1], cols[0]..cols[1]
    of a centre-crop grid placed by `geometry` on an image of `size`."""
    return CellGrid.of_crop(geometry, grid, size[0], size[1]).box(rows, cols)


def smooth_scores(scores: np.ndarray, radius: int) -> np.ndarray:
    """Mean over the (2r+1)^2 neighbourhood of each cell, counting only cells inside the grid."""
    if radius <= 0:
        return scores
    gh, gw = scores.shape
    padded = np.pad(scores, radius)
    ones = np.pad(np.ones_like(scores), radius)
    total = np.zeros_like(scores)
    count = np.zeros_like(scores)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            total += padded[dy : dy + gh, dx : dx + gw]
            count += ones[dy : dy + gh, dx : dx + gw]
    result: np.ndarray = total / count
    return result


def best_region(
    scores: np.ndarray, level: float = BOX_LEVEL
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """The best cell and the rows/cols spanned by the high-scoring cells connected to it."""
    gh, gw = scores.shape
    best = np.unravel_index(int(np.argmax(scores)), scores.shape)
    top, median = float(scores[best]), float(np.median(scores))
    keep = scores >= median + level * (top - median)
    seen = {(int(best[0]), int(best[1]))}
    queue = deque(seen)
    while queue:
        r, c = queue.popleft()
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= nr < gh and 0 <= nc < gw and keep[nr, nc] and (nr, nc) not in seen:
                seen.add((nr, nc))
                queue.append((nr, nc))
    rows = [r for r, _ in seen]
    cols = [c for _, c in seen]
    return (int(best[0]), int(best[1])), (min(rows), max(rows)), (min(cols), max(cols))


@dataclass(frozen=True)
class ImageRegions:
    """How one image's patches score against a query."""

    image_id: int
    width: int
    height: int
    scores: np.ndarray  # (grid_h, grid_w) cosine similarity per cell, before smoothing
    region_score: float  # the best (smoothed) cell
    cell: tuple[int, int]  # its (row, col)
    box: list[int]  # [x0, y0, x1, y1] in displayed pixels
    crop: list[int]  # the part of the image the model saw, same frame


@dataclass(frozen=True)
class RegionHit:
    id: int
    bucket: str
    key: str
    score: float  # what the ranking used: region score, mixed with the CLS score if asked
    region_score: float
    cls_score: float
    box: list[int]
    cell: tuple[int, int] = field(default=(0, 0))

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "bucket": self.bucket,
            "key": self.key,
            "score": round(self.score, 6),
            "region_score": round(self.region_score, 6),
            "cls_score": round(self.cls_score, 6),
            "box": list(self.box),
            "cell": list(self.cell),
        }


class RegionSearchService:
    """Region queries and per-image score maps over the current patch index.

    Example:
        >>> regions = RegionSearchService(settings)
        >>> with session_scope(settings) as session:
        ...     hits = regions.search_text(session, "a red umbrella", k=5)
        >>> hits[0].box  # [x0, y0, x1, y1] in the displayed image
    """

    def __init__(
        self, settings: Settings, search: SearchService | None = None, holder: PatchIndexHolder | None = None
    ) -> None:
        self.settings = settings
        self.search = search or SearchService(settings)
        self.holder = holder or PatchIndexHolder(patch_index_store(settings))
        self.patches = PatchStore(settings.patch_dir)

    def loaded_patch_index(self) -> LoadedPatchIndex:
        """The current patch index, checked against the configured model and patch mode.

        Raises:
            IndexNotReady: no patch index was published yet.
            ModelMismatch: it was built by another model or patch mode.
        """
        self.search.follow_switch()
        if self.search.settings is not self.settings:  # `pixseek reindex` switched the model
            self.settings = self.search.settings
            self.holder = PatchIndexHolder(patch_index_store(self.settings))
            self.patches = PatchStore(self.settings.patch_dir)
        loaded = self.holder.get()
        if loaded is None:
            raise IndexNotReady("no patch index yet: run `pixseek ingest PATH` first")
        loaded.manifest.check(ModelId.of(self.settings), effective_patch_mode(self.settings))
        return loaded

    def coverage(self) -> dict[str, int] | None:
        """Searchable images by how their patches cover them, as of the served patch index
        (`whole`, `centre`, `pending` enrichment); None when it does not say (older indexes)."""
        loaded = self.holder.get()
        found = loaded.manifest.coverage if loaded is not None else {}
        return dict(found) if found and any(found.values()) else None

    def text_vector(self, text: str) -> np.ndarray:
        """The text's embedding as every other search makes it (prompt templates, shared cache)."""
        text = text.strip()
        if not text:
            raise InvalidRequest("the query text is empty")
        return self.search.texts.embed(self.search.encoder, text, self.settings.prompt_templates)

    def search_text(
        self,
        session: Session,
        text: str,
        *,
        k: int = 10,
        smooth: int = 0,
        cls_weight: float = 0.0,
        min_score: float | None = None,
        filters: Filters | None = None,
    ) -> list[RegionHit]:
        """Images ranked by the region that best matches `text`; see `search_vector`."""
        self.loaded_patch_index()  # fail before loading the model when there is nothing to search
        return self.search_vector(
            session,
            self.text_vector(text),
            k=k,
            smooth=smooth,
            cls_weight=cls_weight,
            min_score=min_score,
            filters=filters,
        )

    def search_image_bytes(
        self,
        session: Session,
        data: bytes,
        *,
        max_bytes: int | None = None,
        k: int = 10,
        smooth: int = 0,
        cls_weight: float = 0.0,
        min_score: float | None = None,
        filters: Filters | None = None,
    ) -> list[RegionHit]:
        """Regions that look like an uploaded picture (say, a crop of the thing sought)."""
        self.loaded_patch_index()
        vector = self.search.embed_image_bytes(data, max_bytes=max_bytes)
        return self.search_vector(
            session, vector, k=k, smooth=smooth, cls_weight=cls_weight, min_score=min_score, filters=filters
        )

    def search_region(
        self,
        session: Session,
        image_id: int,
        box: Sequence[float],
        *,
        include_query_image: bool = False,
        k: int = 10,
        smooth: int = 0,
        cls_weight: float = 0.0,
        min_score: float | None = None,
        filters: Filters | None = None,
    ) -> list[RegionHit]:
        """Images whose best region looks like `box` on cataloged image `image_id`.

        Args:
            box: [x0, y0, x1, y1] in pixels of the image as displayed.
            include_query_image: keep the query image in the results (left out by default:
                its own region always matches itself best).

        Raises:
            ImageNotFound: no such searchable image.
            IndexNotReady: nothing indexed yet, or the image has no stored patches.
            InvalidRegion: a box outside the image, without area, outside the part with
                patches, or smaller than half a cell.
        """
        loaded = self.loaded_patch_index()
        vector = region_vector(session, self.settings, image_id, box, loaded.manifest.image_size)
        return self.search_vector(
            session,
            vector,
            k=k,
            smooth=smooth,
            cls_weight=cls_weight,
            min_score=min_score,
            filters=filters,
            exclude_ids=None if include_query_image else {image_id},
        )

    def _check(self, k: int, smooth: int, cls_weight: float) -> None:
        if not 1 <= k <= self.settings.max_results:
            raise InvalidRequest(f"k must be between 1 and {self.settings.max_results}")
        if not 0 <= smooth <= MAX_SMOOTH:
            raise InvalidRequest(f"smooth must be between 0 and {MAX_SMOOTH} cells")
        if not 0.0 <= cls_weight <= 1.0:
            raise InvalidRequest("cls_weight must be between 0 and 1")

    def _query(self, vector: np.ndarray, dim: int) -> np.ndarray:
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        if query.shape[1] != dim:
            raise InvalidRequest(f"query vector has dim {query.shape[1]}, the patch index has {dim}")
        faiss.normalize_L2(query)
        return query

    def search_vector(
        self,
        session: Session,
        vector: np.ndarray,
        *,
        k: int = 10,
        smooth: int = 0,
        cls_weight: float = 0.0,
        min_score: float | None = None,
        filters: Filters | None = None,
        exclude_ids: set[int] | None = None,
        exclude_shas: set[str] | None = None,
    ) -> list[RegionHit]:
        """Top-k images by their best region for a query vector, best first.

        Args:
            vector: a query in the joint space (normalised here).
            k: number of images.
            smooth: average each cell's score over this many neighbouring cells around it.
            cls_weight: final score = (1 - w) * region score + w * CLS score.
            min_score: drop results whose final score is below this.
            filters: only images of a bucket / key prefix.
            exclude_ids, exclude_shas: leave out these images, and images with these bytes.
        """
        self._check(k, smooth, cls_weight)
        loaded = self.loaded_patch_index()
        manifest = loaded.manifest
        query = self._query(vector, manifest.dim)
        sel = None
        if filters is not None and filters.active:
            allowed = [int(i) for i in session.scalars(select(Image.id).where(*conditions(filters)))]
            if not allowed:
                return []
            if len(allowed) <= MAX_SELECTOR_IMAGES:
                sel = faiss.IDSelectorBatch(loaded.patch_ids(np.asarray(allowed, dtype=np.int64)))
        # Enough candidate patches to see k distinct images even when one image owns many.
        exclude_ids, exclude_shas = exclude_ids or set(), exclude_shas or set()
        want = max(self.settings.patch_candidates, 8 * (k + len(exclude_ids)))
        _, ids = search_index(loaded.index, query, want, nprobe=self.settings.patch_nprobe, sel=sel)
        found = ids[0][ids[0] >= 0]
        images = found // manifest.stride
        candidates = list(dict.fromkeys(int(i) for i in images))  # best patch first, deduplicated
        rows = images_by_ids(session, candidates)
        if filters is not None and filters.active and sel is None:
            allowed_set = set(allowed)
            candidates = [i for i in candidates if i in allowed_set]
        cls_scores = self._cls_scores(session, candidates, query[0])
        hits: list[RegionHit] = []
        for image_id in candidates:
            row = rows.get(image_id)
            if row is None or row.status not in SEARCHABLE or image_id in exclude_ids:
                continue
            if row.sha256 is not None and row.sha256 in exclude_shas:
                continue
            regions = self._regions(row, query[0], manifest, smooth)
            if regions is None:
                continue
            cls_score = cls_scores.get(image_id, 0.0)
            score = (1.0 - cls_weight) * regions.region_score + cls_weight * cls_score
            if min_score is not None and score < min_score:
                continue
            hits.append(
                RegionHit(
                    id=image_id,
                    bucket=row.bucket,
                    key=row.key,
                    score=score,
                    region_score=regions.region_score,
                    cls_score=cls_score,
                    box=regions.box,
                    cell=regions.cell,
                )
            )
        hits.sort(key=lambda h: (-h.score, h.id))
        return hits[:k]

    def image_regions(
        self, session: Session, image_id: int, vector: np.ndarray, *, smooth: int = 0
    ) -> ImageRegions:
        """The score map of one cataloged image against a query vector."""
        self._check(1, smooth, 0.0)
        row = get_searchable_image(session, image_id)
        loaded = self.loaded_patch_index()
        query = self._query(vector, loaded.manifest.dim)
        regions = self._regions(row, query[0], loaded.manifest, smooth)
        if regions is None:
            raise IndexNotReady(f"image {image_id} has no stored patches yet")
        return regions

    def _regions(
        self, row: Image, query: np.ndarray, manifest: PatchManifest, smooth: int
    ) -> ImageRegions | None:
        arr = self.patches.get(row.id)
        grid = (int(arr.shape[0]), int(arr.shape[1])) if arr is not None else (0, 0)
        # The catalog row says how the grid covers the picture; a file of another shape
        # (being rewritten by `pixseek regions upgrade`) waits for its row.
        if arr is None or grid != (row.grid_h, row.grid_w) or not row.width or not row.height:
            log.warning("regions.no_patches image=%d", row.id)
            return None
        scores = arr.astype(np.float32) @ query
        smoothed = smooth_scores(scores, smooth)
        cell, rows, cols = best_region(smoothed)
        # The input size comes with the index; only indexes from before it was recorded
        # make a region query load the model to learn it.
        image_size = manifest.image_size or self.search.encoder.image_size
        cells = image_cells(row, grid, image_size)
        return ImageRegions(
            image_id=row.id,
            width=row.width,
            height=row.height,
            scores=scores,
            region_score=float(smoothed[cell]),
            cell=cell,
            box=cells.box(rows, cols),
            crop=cells.covered,
        )

    def _cls_scores(self, session: Session, image_ids: list[int], query: np.ndarray) -> dict[int, float]:
        if not image_ids:
            return {}
        rows = session.execute(
            select(ImageVector.image_id, ImageVector.vector).where(
                ImageVector.image_id.in_(image_ids), ImageVector.model == ModelId.of(self.settings).key
            )
        ).all()
        return {int(i): float(np.frombuffer(blob, dtype="<f4") @ query) for i, blob in rows}
