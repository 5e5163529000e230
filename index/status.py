"""What `pixseek status` and `GET /v1/status` report: counts, model, index and storage."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from pixseek.core.settings import Settings
from pixseek.index.catalog import Image
from pixseek.index.patch_sync import patch_index_status
from pixseek.index.store import IndexStore


def catalog_status(settings: Settings, session: Session, *, details: bool = True) -> dict[str, Any]:
    """Counts, model and indexes; with `details`, also where the data lives (data dir, database, buckets)."""
    counts = {
        str(status): int(n)
        for status, n in session.execute(select(Image.status, func.count()).group_by(Image.status))
    }
    store = IndexStore(settings.index_dir)
    generation = store.current_generation()
    index: dict[str, Any] | None = None
    if generation is not None:
        folder = store.generation_dir(generation)
        manifest_path = folder / "manifest.json"
        if manifest_path.exists():
            from pixseek.index.manifest import Manifest

            manifest = Manifest.read(manifest_path)
            index = {
                "generation": generation,
                "count": manifest.count,
                "model": manifest.model,
                "pretrained": manifest.pretrained,
                "dim": manifest.dim,
                "type": manifest.index_type,
                "built_at": manifest.built_at,
                "bytes": sum(p.stat().st_size for p in folder.iterdir()),
            }
    status: dict[str, Any] = {
        "model": settings.model,
        "pretrained": settings.pretrained,
        "random_weights": settings.random_weights,
        "mode": "embedded" if settings.embedded else "distributed",
        "images": counts,
        "index": index,
        "patch_index": patch_index_status(settings),  # region search (issue 6)
    }
    if details:
        buckets = [str(b) for b in session.scalars(select(Image.bucket).distinct().order_by(Image.bucket))]
        status["data_dir"] = str(settings.data_dir)
        status["database"] = make_url(settings.sqlalchemy_url).render_as_string(hide_password=True)
        status["buckets"] = buckets
    return status
