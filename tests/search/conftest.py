"""Fixtures for search tests: a PostgreSQL catalog beside the default SQLite one."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from pixseek.db import dispose_engines, ensure_schema
from pixseek.settings import Settings, get_settings
from tests.conftest import TEST_ENV

# The server CI runs; a test database is created (and dropped) on it per test.
POSTGRES_URL = os.environ.get(
    "PIXSEEK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings shared by one module's tests, for catalogs that are costly to build."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, value in TEST_ENV.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("PIXSEEK_DATA_DIR", str(tmp_path_factory.mktemp("data")))
        monkeypatch.delenv("PIXSEEK_DATABASE_URL", raising=False)
        monkeypatch.delenv("PIXSEEK_BROKER_URL", raising=False)
        get_settings.cache_clear()
        current = get_settings()
        ensure_schema(current)
        yield current
        get_settings.cache_clear()
        dispose_engines()


@pytest.fixture
def pg_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Like `settings`, with the catalog in a fresh PostgreSQL database."""
    name = f"pixseek_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server: say so rather than fail every test here
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {type(exc).__name__}")
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("PIXSEEK_DATABASE_URL", url)
    get_settings.cache_clear()
    current = get_settings()
    ensure_schema(current)
    try:
        yield current
    finally:
        get_settings.cache_clear()
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
