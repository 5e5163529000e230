"""The whole path once: ingest a folder, then find an image by itself."""

from __future__ import annotations

from pathlib import Path

from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.ingest.run import run_ingest
from pixseek.search.query import ImagePart, Query
from pixseek.search.service import SearchService


def test_ingested_image_finds_itself_first(settings: Settings, bucket: Path) -> None:
    run_ingest(settings, str(bucket))
    service = SearchService(settings)
    data = (bucket / "img003.png").read_bytes()
    with session_scope(settings) as session:
        hits = service.search(session, Query(parts=(ImagePart(data),), limit=3)).hits
    assert hits[0].key == "img003.png"
    assert abs(hits[0].score - 1.0) < 1e-4
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
