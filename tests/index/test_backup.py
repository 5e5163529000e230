"""`pixseek backup` while an ingest runs, then `pixseek restore` into an empty data dir: the same
search results, on SQLite and on PostgreSQL (pg_dump / pg_restore)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from pixseek.cli import main
from pixseek.core.db import dispose_engines
from pixseek.core.settings import Settings, get_settings
from pixseek.ingest.run import run_ingest
from tests.conftest import BACKENDS
from tests.support.images import write_images
from tests.support.services import PG_ADMIN, drop_database

QUERIES = ("blocks", "a red square", "stripes")


def _cli(env: dict[str, str], *args: str) -> dict[str, object]:
    get_settings.cache_clear()
    dispose_engines()
    result = CliRunner().invoke(main, [*args, "--json"], env=env)
    get_settings.cache_clear()
    assert result.exit_code == 0 and result.stdout, result.output
    document: dict[str, object] = json.loads(result.stdout)
    return document


def _results(env: dict[str, str]) -> list[object]:
    return [_cli(env, "search", query, "-k", "5")["results"] for query in QUERIES]


@pytest.fixture
def empty_database(request: pytest.FixtureRequest, backend_settings: Settings) -> Iterator[str | None]:
    """An empty catalog database beside the test's (PostgreSQL: a new database; SQLite: none yet)."""
    if backend_settings.sqlalchemy_url.startswith("sqlite"):
        yield None
        return
    name = f"pixseek_restore_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
    yield url
    dispose_engines()
    drop_database(url)


@pytest.mark.parametrize("backend_settings", BACKENDS, indirect=True)
def test_backup_during_an_ingest_restores_the_same_search_results(
    backend_settings: Settings, empty_database: str | None, tmp_path: Path
) -> None:
    settings = backend_settings
    first, second = tmp_path / "first", tmp_path / "second"
    write_images(first, 6)
    write_images(second, 6, start=6)
    run_ingest(settings, str(first))
    env = {"PIXSEEK_DATA_DIR": str(settings.data_dir), "PIXSEEK_DATABASE_URL": settings.database_url or ""}

    ingesting = threading.Thread(target=run_ingest, args=(settings, str(second)))
    ingesting.start()
    try:
        report = _cli(env, "backup", str(tmp_path / "backup"))
    finally:
        ingesting.join()
    assert report["generation"] in (1, 2)  # the one served at that moment, whichever it was
    served = report["generation"]
    expected = _results(env) if served == 2 else None

    restored = {"PIXSEEK_DATA_DIR": str(tmp_path / "restored"), "PIXSEEK_DATABASE_URL": empty_database or ""}
    again = _cli(restored, "restore", str(tmp_path / "backup"))
    assert again["generation"] == served
    status = _cli(restored, "status")
    assert status["index"]["generation"] == served  # type: ignore[index]
    if expected is not None:
        assert _results(restored) == expected
    # The restored copy is a working data dir: the next ingest of a bucket carries on from it.
    _cli(restored, "ingest", str(second))
    _cli(env, "ingest", str(second))
    assert _results(restored) == _results(env)

    refused = CliRunner().invoke(main, ["restore", str(tmp_path / "backup")], env=restored)
    assert refused.exit_code == 2 and "already holds" in refused.output
