"""Revision 0002: images cataloged before it become keyword-searchable by name and folder."""

from __future__ import annotations

from alembic import command
from sqlalchemy import insert, inspect

from pixseek.core.db import alembic_config, get_engine, migrate, session_scope
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image, ImageStatus
from pixseek.search.query import Mode, Query, TextPart
from pixseek.search.service import SearchService


def test_upgrade_backfills_existing_images_and_downgrade_removes_tables(settings: Settings) -> None:
    command.downgrade(alembic_config(settings), "0001")
    assert "image_text" not in inspect(get_engine(settings)).get_table_names()
    with session_scope(settings) as session:
        for key, status in (
            ("2019/fieldTrip/bus_stop.jpg", ImageStatus.INDEXED),
            ("2019/old.jpg", ImageStatus.DELETED),
        ):
            # Core insert of the columns 0001 has (the model may have more by now).
            session.execute(insert(Image.__table__).values(bucket="/b", key=key, status=status))
    migrate(settings)
    with session_scope(settings) as session:
        service = SearchService(settings)

        def keys(text: str) -> list[str]:
            page = service.search(session, Query(parts=(TextPart(text),), mode=Mode.KEYWORD))
            return [hit.key for hit in page.hits]

        assert keys("field trip bus") == ["2019/fieldTrip/bus_stop.jpg"]
        assert keys("old") == []  # deleted images get no document
