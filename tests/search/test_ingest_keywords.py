"""Keyword documents made at ingest: file names, folders and sidecar captions, end to end."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image
from pixseek.index.catalog.keywords import ImageText
from pixseek.ingest.keywords import sidecar_keys
from pixseek.ingest.run import run_ingest
from pixseek.search.query import Mode, Query, TextPart
from pixseek.search.service import SearchService
from tests.support.images import write_image


def _keys(settings: Settings, text: str, mode: Mode = Mode.KEYWORD) -> list[str]:
    with session_scope(settings) as session:
        page = SearchService(settings).search(session, Query(parts=(TextPart(text),), mode=mode, limit=20))
    return [hit.key for hit in page.hits]


def test_sidecar_keys() -> None:
    assert sidecar_keys("a/photo.jpg", [".txt", ".caption"]) == ["a/photo.txt", "a/photo.caption"]
    assert sidecar_keys("photo", [".txt"]) == ["photo.txt"]


def test_ingest_indexes_names_folders_and_captions(settings: Settings, tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    write_image(bucket / "holidays" / "beachDay_001.png", 1)
    write_image(bucket / "holidays" / "IMG_0002.png", 2)
    (bucket / "holidays" / "IMG_0002.txt").write_text("Lighthouse at dusk\n", encoding="utf-8")
    write_image(bucket / "work" / "whiteboard.png", 3)
    (bucket / "work" / "whiteboard.caption").write_text("sprint planning notes", encoding="utf-8")
    for seed in range(4, 8):
        write_image(bucket / "misc" / f"img_{seed:03d}.png", seed)
    run_ingest(settings, str(bucket))

    assert _keys(settings, "lighthouse") == ["holidays/IMG_0002.png"]
    assert _keys(settings, "planning notes") == ["work/whiteboard.png"]
    assert _keys(settings, "beach day") == ["holidays/beachDay_001.png"]
    assert sorted(_keys(settings, "holidays")) == ["holidays/IMG_0002.png", "holidays/beachDay_001.png"]
    assert _keys(settings, "img_005.png", Mode.HYBRID)[0] == "misc/img_005.png"
    assert _keys(settings, "IMG_0002", Mode.HYBRID)[0] == "holidays/IMG_0002.png"

    # A file that disappears takes its keyword document with it.
    (bucket / "holidays" / "IMG_0002.png").unlink()
    run_ingest(settings, str(bucket))
    assert _keys(settings, "lighthouse") == []
    with session_scope(settings) as session:
        gone = session.scalar(select(Image.id).where(Image.key == "holidays/IMG_0002.png"))
        assert session.get(ImageText, gone) is None
