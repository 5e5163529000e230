"""Alembic environment: runs pixseek's migrations against the configured database."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from pixseek.migrations.metadata import Base
from pixseek.migrations.unmodelled import include_object

# An arbitrary constant that names pixseek's migration lock among PostgreSQL advisory locks.
MIGRATION_LOCK_KEY = 0x706978736565

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        # SQLite cannot ALTER most things; batch mode rebuilds tables the way Alembic documents.
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            include_object=include_object,
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Several services may start at once against a new database (api, workers):
                # one migrates, the others wait here and then find the schema at head.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
