"""Fixtures for search tests: catalogs on SQLite and on PostgreSQL.

Backend-sensitive behaviour (keyword matching, filters written as SQL) runs on both:
`backend_settings` and `module_settings` are parametrised over the two; the PostgreSQL
cases carry the `services` marker and get a fresh database each.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from pixseek.core.db import dispose_engines, ensure_schema
from pixseek.core.settings import Settings, get_settings
from tests.conftest import TEST_ENV
from tests.services_needed import service_missing

# The server CI runs; a test database is created (and dropped) on it per use.
POSTGRES_URL = os.environ.get(
    "PIXSEEK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.services)]


@contextmanager
def postgres_database() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database, dropped afterwards."""
    name = f"pixseek_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:  # no server: say so once per test rather than a traceback
        admin.dispose()
        service_missing(f"PostgreSQL not reachable at {POSTGRES_URL}: {type(exc).__name__}")
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def configured(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, database_url: str | None
) -> Iterator[Settings]:
    """Test settings (the tiny model) with this data dir and database, schema migrated."""
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PIXSEEK_DATA_DIR", str(data_dir))
    monkeypatch.delenv("PIXSEEK_BROKER_URL", raising=False)
    if database_url:
        monkeypatch.setenv("PIXSEEK_DATABASE_URL", database_url)
    else:
        monkeypatch.delenv("PIXSEEK_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    current = get_settings()
    ensure_schema(current)
    try:
        yield current
    finally:
        get_settings.cache_clear()
        dispose_engines()


@pytest.fixture
def pg_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Like `settings`, with the catalog in a fresh PostgreSQL database."""
    with postgres_database() as url, configured(monkeypatch, settings.data_dir, url) as current:
        yield current


@pytest.fixture(params=BACKENDS)
def backend_settings(request: pytest.FixtureRequest) -> Settings:
    """`settings` on SQLite, then on PostgreSQL."""
    name = "settings" if request.param == "sqlite" else "pg_settings"
    value: Settings = request.getfixturevalue(name)
    return value


@pytest.fixture(scope="module", params=BACKENDS)
def module_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """Settings shared by one module's tests (catalogs costly to build), on each backend."""
    data_dir = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as monkeypatch:
        if request.param == "sqlite":
            with configured(monkeypatch, data_dir, None) as current:
                yield current
        else:
            with postgres_database() as url, configured(monkeypatch, data_dir, url) as current:
                yield current
