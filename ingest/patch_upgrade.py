"""Upgrade centre-crop patches to patches over the whole picture; the CLS embeddings stay.

Catalogs ingested before issue 17 hold patches of the centred square only (`patch_layout`
NULL or `centre`). Region search still serves them, but cannot box anything outside that
square. `upgrade_patches` re-reads such images, makes their patch grids the configured way
(`PIXSEEK_REGION_COVERAGE`, `PIXSEEK_REGION_TILES`) and hands them to the index writer.

Resumable by construction: an image's layout is in its catalog row, committed with its new
patch file batch by batch, and every run selects only images still in the old layout. An
interrupted run loses at most the batch in flight; run it again to go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from pixseek.core.db import session_scope
from pixseek.core.errors import InvalidRequest, PixseekError
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import SEARCHABLE, Image, ImageStatus
from pixseek.index.vectors.patch_store import PatchStore
from pixseek.index.vectors.patch_sync import effective_patch_mode, ensure_store_patch_mode
from pixseek.index.vectors.writer import publish_index
from pixseek.media.cataloged import read_cataloged
from pixseek.media.decode import DecodeError, decode_image
from pixseek.model.encoder import get_encoder
from pixseek.model.patch_tokens import check_patch_mode
from pixseek.model.tiling import CENTRE, Coverage, WholeLayout

log = logging.getLogger(__name__)


@dataclass
class UpgradeSummary:
    upgraded: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)  # (image id, reason)
    remaining: int = 0  # images still with centre-crop patches (failed ones included)

    def as_dict(self) -> dict[str, object]:
        return {
            "upgraded": self.upgraded,
            "failed": [{"id": i, "reason": r} for i, r in self.failed],
            "remaining": self.remaining,
        }


def _old_layout(model_key: str) -> list[ColumnElement[bool]]:
    return [
        Image.status.in_(list(SEARCHABLE)),
        Image.model == model_key,
        or_(Image.patch_layout.is_(None), Image.patch_layout == CENTRE),
    ]


def count_centre_patches(settings: Settings, model_key: str) -> int:
    """Searchable images of `model_key` whose patches cover the centre crop only."""
    with session_scope(settings) as session:
        return int(
            session.scalar(select(func.count()).select_from(Image).where(*_old_layout(model_key))) or 0
        )


def upgrade_patches(
    settings: Settings,
    *,
    limit: int | None = None,
    batch: int = 64,
    on_progress: Callable[[int], None] | None = None,
) -> UpgradeSummary:
    """Re-embed the patches (never the CLS embedding) of images with centre-crop patches.

    Args:
        limit: upgrade at most this many images in this run (the rest on the next run).
        batch: images per commit and per index update.

    Raises:
        InvalidRequest: `PIXSEEK_REGION_COVERAGE=centre`, which has nothing to upgrade to.
        PatchModeMismatch: the store holds patches of another patch mode.
    """
    if settings.region_coverage == CENTRE:
        raise InvalidRequest("PIXSEEK_REGION_COVERAGE is centre: set it to tiles or full to upgrade patches")
    encoder = get_encoder(settings)
    coverage = Coverage.of(settings, encoder.image_size, encoder.grid[0])
    # An old store keeps its mode: upgrading changes where patches are, not how they are made.
    patch_mode = check_patch_mode(effective_patch_mode(settings))
    ensure_store_patch_mode(settings.patch_dir, patch_mode, encoder.image_size)
    store = PatchStore(settings.patch_dir)
    model_key = encoder.model_id.key
    summary = UpgradeSummary()
    last_id = 0
    while limit is None or summary.upgraded + len(summary.failed) < limit:
        size = batch if limit is None else min(batch, limit - summary.upgraded - len(summary.failed))
        with session_scope(settings) as session:
            rows = session.execute(
                select(Image.id, Image.bucket, Image.key, Image.width, Image.height)
                .where(*_old_layout(model_key), Image.id > last_id)
                .order_by(Image.id)
                .limit(size)
            ).all()
        if not rows:
            break
        last_id = int(rows[-1][0])
        # Read and lay out on this thread (the model dominates), then one batch through the model.
        ready: list[tuple[int, np.ndarray, WholeLayout]] = []
        for image_id, bucket, key, width, height in rows:
            try:
                decoded = decode_image(
                    read_cataloged(settings, image_id, bucket, key),
                    max_pixels=settings.max_image_pixels,
                    draft_size=encoder.image_size * max(2, coverage.tiles),
                )
                if (decoded.width, decoded.height) != (width, height):
                    raise InvalidRequest("the file changed since it was ingested; re-ingest its bucket")
            except (PixseekError, DecodeError) as exc:
                summary.failed.append((int(image_id), exc.detail))
                log.warning("regions.upgrade_failed image=%d reason=%s", image_id, exc.detail)
                continue
            layout = coverage.layout(decoded.width, decoded.height)
            inputs = encoder.preprocessor.whole_inputs(decoded.image, layout, coverage.method)
            ready.append((int(image_id), inputs, layout))
        grids = encoder.encode_whole_batch(
            [(inputs, layout) for _, inputs, layout in ready],
            coverage.method,
            patch_mode,
            settings.batch_size,
        )
        with session_scope(settings) as session:
            for (image_id, _, _), grid in zip(ready, grids, strict=True):
                row = session.get(Image, image_id, with_for_update=True)
                if row is None or row.status not in SEARCHABLE or row.patch_layout not in (None, CENTRE):
                    continue  # deleted, re-ingested or upgraded meanwhile
                store.put(image_id, grid)
                row.grid_h, row.grid_w = int(grid.shape[0]), int(grid.shape[1])
                row.patch_layout = coverage.method
                # The index writer re-adds EMBEDDED images' patches (and their unchanged CLS vector).
                row.status = ImageStatus.EMBEDDED
                summary.upgraded += 1
        publish_index(settings, encoder.model_id)
        if on_progress is not None:
            on_progress(summary.upgraded)
        log.info("regions.upgrade_batch upgraded=%d failed=%d", summary.upgraded, len(summary.failed))
    summary.remaining = count_centre_patches(settings, model_key)
    return summary
