"""Database engine, sessions and migrations (SQLite embedded, PostgreSQL in production)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from pixseek.core.globs import register_sqlite as register_sqlite_glob
from pixseek.core.settings import Settings

T = TypeVar("T")

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 5

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on every backend (SQLite forgets the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


# Ids per `IN (...)` list. SQLite allows 32,766 bound parameters in a statement (PostgreSQL
# 65,535); 10,000 leaves room for the other conditions and keeps each statement small.
IN_LIST_MAX = 10_000


def in_chunks(values: Sequence[T], size: int = IN_LIST_MAX) -> Iterator[Sequence[T]]:
    """`values` in slices short enough for one `IN (...)` list."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


class Base(DeclarativeBase):
    """Declarative base of every table pixseek owns."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the API read while an ingest writes; busy_timeout waits out short write locks.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
    register_sqlite_glob(dbapi_conn)


@functools.lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # pre_ping: a connection the server dropped (a restart, a failover) is replaced before use
    # rather than failing the first statement. connect_timeout: a server that does not answer
    # fails a connection in seconds (an API request answers 503, a task retries), never hangs.
    connect_args = {"connect_timeout": CONNECT_TIMEOUT_SECONDS} if url.startswith("postgresql") else {}
    return create_engine(url, pool_pre_ping=True, pool_timeout=30, connect_args=connect_args)


_KNOWN_URLS: set[str] = set()


def get_engine(settings: Settings) -> Engine:
    """The engine for these settings, created once per URL per process."""
    _KNOWN_URLS.add(settings.sqlalchemy_url)
    return _engine_for(settings.sqlalchemy_url)


def dispose_engines() -> None:
    """Close every pooled connection (tests, and after fork in workers)."""
    # lru_cache gives no access to its values, so dispose through a fresh lookup of each URL.
    for url in list(_KNOWN_URLS):
        _engine_for(url).dispose()
    _engine_for.cache_clear()
    _KNOWN_URLS.clear()


def session_factory(settings: Settings) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(settings), expire_on_commit=False)


@contextmanager
def session_scope(settings: Settings) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = session_factory(settings)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(settings: Settings) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", settings.sqlalchemy_url.replace("%", "%%"))
    return cfg


def migrate(settings: Settings, revision: str = "head") -> None:
    """Bring the database schema to `revision` with Alembic."""
    from alembic import command

    if settings.sqlalchemy_url.startswith("sqlite"):
        get_engine(settings)  # creates the database's folder
    command.upgrade(alembic_config(settings), revision)


_MIGRATED: set[str] = set()


def ensure_schema(settings: Settings) -> None:
    """Migrate once per process when auto-migration is on (the embedded default)."""
    url = settings.sqlalchemy_url
    if not settings.auto_migrate or url in _MIGRATED:
        return
    migrate(settings)
    _MIGRATED.add(url)
