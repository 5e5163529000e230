"""What `pixseek status` and `GET /v1/status` report: counts, model, index and storage.

Only SQL and the manifests are read, never an index, so this runs without importing faiss.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from pixseek.core.settings import Settings
from pixseek.index.catalog.images import SEARCHABLE, Image
from pixseek.index.vectors.generations import GenerationFolder
from pixseek.index.vectors.manifest import MANIFEST_FILE, Manifest, PatchManifest
from pixseek.model.identity import weights_id
from pixseek.model.runtime_choice import chosen_here


def _current(root: Path) -> tuple[int, Path] | None:
    """The current generation and its folder, or None before the first one has a manifest."""
    folder = GenerationFolder(root)
    generation = folder.current_generation()
    if generation is None:
        return None
    path = folder.generation_dir(generation)
    return (generation, path) if (path / MANIFEST_FILE).exists() else None


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir())


def index_status(settings: Settings) -> dict[str, Any] | None:
    """The current CLS index, from its manifest, or None before the first one."""
    current = _current(settings.index_dir)
    if current is None:
        return None
    generation, folder = current
    manifest = Manifest.read(folder / MANIFEST_FILE)
    return {
        "generation": generation,
        "count": manifest.count,
        "model": manifest.model,
        "pretrained": manifest.pretrained,
        "dim": manifest.dim,
        "type": manifest.index_type,
        "built_at": manifest.built_at,
        "bytes": _bytes(folder),
    }


def patch_index_status(settings: Settings) -> dict[str, Any] | None:
    """The current patch index (region search, issue 6), from its manifest, or None."""
    current = _current(settings.patch_index_dir)
    if current is None:
        return None
    generation, folder = current
    manifest = PatchManifest.read(folder / MANIFEST_FILE)
    return {
        "generation": generation,
        "images": manifest.images,
        "patches": manifest.count,
        "grid": [manifest.grid_h, manifest.grid_w],
        "patch_mode": manifest.patch_mode,
        "type": manifest.index_type,
        "built_at": manifest.built_at,
        "bytes": _bytes(folder),
    }


def catalog_status(settings: Settings, session: Session, *, details: bool = True) -> dict[str, Any]:
    """Counts, model and indexes; with `details`, also where the data lives (data dir, database, buckets)."""
    counts = {
        str(status): int(n)
        for status, n in session.execute(select(Image.status, func.count()).group_by(Image.status))
    }
    status: dict[str, Any] = {
        "model": settings.model,
        "pretrained": settings.pretrained,
        "random_weights": settings.random_weights,
        "mode": "embedded" if settings.embedded else "distributed",
        "images": counts,
        "index": index_status(settings),
        "patch_index": patch_index_status(settings),
        # How searchable images' patches cover them: "tiles"/"full" (whole picture) or
        # "centre" (the centred square, catalogs from before issue 17: `pixseek regions upgrade`).
        "patch_layouts": {
            str(layout or "centre"): int(n)
            for layout, n in session.execute(
                select(Image.patch_layout, func.count())
                .where(Image.status.in_(list(SEARCHABLE)), Image.grid_h.is_not(None))
                .group_by(Image.patch_layout)
            )
        },
    }
    # Searchable first (ingest/enrich.py): images whose enrich job has not run yet.
    status["enrichment"] = {
        "pending": int(
            session.scalar(
                select(func.count())
                .select_from(Image)
                .where(Image.status.in_(list(SEARCHABLE)), Image.enriched_at.is_(None))
            )
            or 0
        )
    }
    # What this CPU was measured to run each tower on fastest (model/runtime_choice.py).
    chosen = chosen_here(settings.runtime_cache_dir, settings.model, weights_id(settings.pretrained))
    status["runtime"] = chosen or {"image": settings.runtime, "text": settings.runtime}
    if details:
        buckets = [str(b) for b in session.scalars(select(Image.bucket).distinct().order_by(Image.bucket))]
        status["data_dir"] = str(settings.data_dir)
        status["database"] = make_url(settings.sqlalchemy_url).render_as_string(hide_password=True)
        status["buckets"] = buckets
    return status
