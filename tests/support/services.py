"""The real servers the `services` tests use: PostgreSQL and Redis on 127.0.0.1.

Tests run in parallel (pytest-xdist): each test gets a PostgreSQL database of its own (a copy
of a migrated template its worker made once), and
each worker process a Redis database number of its own (`redis_url`), so no two tests see
each other's rows, queues or keys. Where a server is missing, a test skips on a laptop and
fails under `CI=true`.
"""

from __future__ import annotations

import atexit
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import psycopg
import pytest
import redis

from pixseek.core.db import dispose_engines, get_engine, migrate
from pixseek.core.settings import Settings

# The server CI runs; a test database is created on it per use, and dropped afterwards.
PG_ADMIN = os.environ.get("PIXSEEK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("PIXSEEK_TEST_REDIS", "redis://127.0.0.1:6379")
# Redis has 16 numbered databases: 0 is left to whoever else uses this server, then one per
# worker, wrapping past 15 (queues are named per test as well, so a shared number is safe).
REDIS_DATABASES = 15


def service_missing(reason: str) -> NoReturn:
    """Skip the test, or fail it under `CI=true`, where a missing server is a broken run."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the services must run)", pytrace=False)
    pytest.skip(reason)


def worker_number() -> int:
    """0 for the main process or xdist's gw0, 1 for gw1, ..."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name.removeprefix("gw")) if name.startswith("gw") else 0


def redis_url() -> str:
    """This worker's Redis database (`redis://host:port/N`)."""
    return f"{REDIS_BASE}/{1 + worker_number() % REDIS_DATABASES}"


def postgres_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def redis_available() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_BASE, socket_connect_timeout=3).ping())
    except redis.RedisError:
        return False


def _sqlalchemy_url(name: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


def _create(name: str, template: str | None = None) -> None:
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    except psycopg.OperationalError as exc:  # no server: one line, not a traceback
        service_missing(f"PostgreSQL not reachable at {PG_ADMIN}: {type(exc).__name__}")


_TEMPLATE: list[str] = []


def _migrated_template() -> str:
    """This process's database at the newest schema, made once: a test's database is a copy
    (PostgreSQL copies a template's files: ~0.1 s, where migrating takes ~0.5 s)."""
    if not _TEMPLATE:
        name = f"pixseek_template_{worker_number()}_{uuid.uuid4().hex[:10]}"
        _create(name)
        url = _sqlalchemy_url(name)
        settings = Settings(database_url=url, data_dir=Path(tempfile.gettempdir()), broker_url=None)
        migrate(settings)
        get_engine(settings).dispose()  # a template is copied only while nobody is connected
        atexit.register(drop_database, url)
        _TEMPLATE.append(name)
    return _TEMPLATE[0]


def create_database() -> str:
    """A new PostgreSQL database of this worker's, at the newest schema; its SQLAlchemy URL."""
    name = f"pixseek_test_{worker_number()}_{uuid.uuid4().hex[:10]}"
    _create(name, template=_migrated_template())
    return _sqlalchemy_url(name)


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def postgres_database() -> Iterator[str]:
    """The URL of a fresh PostgreSQL database (newest schema, no rows), dropped afterwards."""
    url = create_database()
    try:
        yield url
    finally:
        dispose_engines()
        drop_database(url)
