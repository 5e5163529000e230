"""search: keyword documents with a full-text index, and indexes for the time filters

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

BACKFILL_CHUNK = 5000

# SQLite: an external-content FTS5 table, kept in step with image_text by triggers.
SQLITE_FTS = [
    """CREATE VIRTUAL TABLE image_text_fts USING fts5(
        name, path, caption, content='image_text', content_rowid='image_id',
        tokenize='unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER image_text_ai AFTER INSERT ON image_text BEGIN
        INSERT INTO image_text_fts(rowid, name, path, caption)
        VALUES (new.image_id, new.name, new.path, new.caption);
    END""",
    """CREATE TRIGGER image_text_ad AFTER DELETE ON image_text BEGIN
        INSERT INTO image_text_fts(image_text_fts, rowid, name, path, caption)
        VALUES ('delete', old.image_id, old.name, old.path, old.caption);
    END""",
    """CREATE TRIGGER image_text_au AFTER UPDATE ON image_text BEGIN
        INSERT INTO image_text_fts(image_text_fts, rowid, name, path, caption)
        VALUES ('delete', old.image_id, old.name, old.path, old.caption);
        INSERT INTO image_text_fts(rowid, name, path, caption)
        VALUES (new.image_id, new.name, new.path, new.caption);
    END""",
]

# PostgreSQL: a weighted tsvector generated from the tokens, with a GIN index.
POSTGRES_TSVECTOR = [
    """ALTER TABLE image_text ADD COLUMN document tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, coalesce(name, '')), 'A')
        || setweight(to_tsvector('simple'::regconfig, coalesce(path, '')), 'B')
        || setweight(to_tsvector('simple'::regconfig, coalesce(caption, '')), 'C')
    ) STORED""",
    "CREATE INDEX ix_image_text_document ON image_text USING gin (document)",
]


def _sqlite_has_fts5(bind: sa.Connection) -> bool:
    try:
        bind.exec_driver_sql("CREATE VIRTUAL TABLE temp._pixseek_fts5_probe USING fts5(x)")
        bind.exec_driver_sql("DROP TABLE temp._pixseek_fts5_probe")
    except sa.exc.OperationalError:
        return False
    return True


def _backfill(bind: sa.Connection) -> None:
    """Keyword documents for images cataloged before this revision (names and folders)."""
    from pixseek.index.catalog.tokenize import document_for

    images = sa.table("images", sa.column("id"), sa.column("key"), sa.column("status"))
    text = sa.table(
        "image_text", sa.column("image_id"), sa.column("name"), sa.column("path"), sa.column("caption")
    )
    rows = bind.execute(
        sa.select(images.c.id, images.c.key).where(images.c.status.in_(["indexed", "embedded"]))
    ).all()
    for start in range(0, len(rows), BACKFILL_CHUNK):
        docs = []
        for image_id, key in rows[start : start + BACKFILL_CHUNK]:
            doc = document_for(key)
            docs.append({"image_id": image_id, "name": doc.name, "path": doc.path, "caption": None})
        bind.execute(sa.insert(text), docs)


def upgrade() -> None:
    op.create_table('image_text',
    sa.Column('image_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('caption', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('image_id')
    )
    with op.batch_alter_table('images', schema=None) as batch_op:
        batch_op.create_index('ix_images_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_images_captured_at', ['captured_at'], unique=False)
        batch_op.create_index('ix_images_status_model', ['status', 'model'], unique=False)

    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        if _sqlite_has_fts5(bind):
            for statement in SQLITE_FTS:
                op.execute(statement)
        else:
            log.warning("search.no_fts5: this SQLite build lacks FTS5; keyword search is unavailable")
    elif bind.dialect.name == "postgresql":
        for statement in POSTGRES_TSVECTOR:
            op.execute(statement)
    _backfill(bind)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for name in ("image_text_ai", "image_text_ad", "image_text_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS image_text_fts")
    with op.batch_alter_table('images', schema=None) as batch_op:
        batch_op.drop_index('ix_images_status_model')
        batch_op.drop_index('ix_images_captured_at')
        batch_op.drop_index('ix_images_created_at')
    op.drop_table('image_text')
