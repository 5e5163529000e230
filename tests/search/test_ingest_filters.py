"""Filters on facts recorded at ingest: EXIF capture time, format, size, dimensions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from PIL import Image

from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.ingest.run import run_ingest
from pixseek.search.filters import Filters
from pixseek.search.query import Query, TextPart
from pixseek.search.service import SearchService
from tests.support.images import pattern, write_image


def _jpeg_taken_at(path: Path, seed: int, taken: str) -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = taken  # DateTimeOriginal
    path.parent.mkdir(parents=True, exist_ok=True)
    pattern(seed, (120, 80)).save(path, "JPEG", exif=exif)


def test_filters_on_ingested_facts(settings: Settings, tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    _jpeg_taken_at(bucket / "summer.jpg", 1, "2021:07:04 10:00:00")
    _jpeg_taken_at(bucket / "winter.jpg", 2, "2022:01:15 08:30:00")
    write_image(bucket / "no_exif.jpg", 3, "JPEG")
    write_image(bucket / "wide.png", 4, size=(300, 50))
    run_ingest(settings, str(bucket))
    service = SearchService(settings)

    def keys(**filters: object) -> list[str]:
        query = Query(parts=(TextPart("anything"),), limit=10, filters=Filters(**filters))  # type: ignore[arg-type]
        with session_scope(settings) as session:
            return sorted(hit.key for hit in service.search(session, query).hits)

    assert keys(captured_after=datetime(2021, 1, 1, tzinfo=UTC)) == ["summer.jpg", "winter.jpg"]
    assert keys(captured_before=datetime(2021, 12, 31)) == ["summer.jpg"]
    assert keys(captured_after=datetime(2021, 7, 4, 10, 0, 1)) == [
        "winter.jpg"
    ]  # bounds are inclusive, to the second
    assert keys(formats=("PNG",)) == ["wide.png"]
    assert keys(min_width=200) == ["wide.png"]
    assert keys(max_height=64, formats=("JPEG",)) == ["no_exif.jpg"]
    sizes = {p.name: p.stat().st_size for p in bucket.iterdir()}
    smallest = min(sizes, key=sizes.__getitem__)
    assert keys(max_size=sizes[smallest]) == [smallest]
    assert keys(ingested_before=datetime(2000, 1, 1)) == []
    assert len(keys(ingested_after=datetime(2000, 1, 1))) == 4
