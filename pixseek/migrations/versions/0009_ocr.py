"""ocr: words read in images with their boxes, and an `ocr` field in the keyword index

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

The keyword index gets a fourth field: SQLite's FTS5 table and its triggers are made again
with the column (and rebuilt from `image_text`), PostgreSQL's generated tsvector again
with the field at weight D.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pixseek.core.db import UTCDateTime

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
TRIGGERS = ("image_text_ai", "image_text_ad", "image_text_au")


def _sqlite_fts(columns: list[str]) -> list[str]:
    cols = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    return [
        f"""CREATE VIRTUAL TABLE image_text_fts USING fts5(
            {cols}, content='image_text', content_rowid='image_id',
            tokenize='unicode61 remove_diacritics 2')""",
        f"""CREATE TRIGGER image_text_ai AFTER INSERT ON image_text BEGIN
            INSERT INTO image_text_fts(rowid, {cols}) VALUES (new.image_id, {new});
        END""",
        f"""CREATE TRIGGER image_text_ad AFTER DELETE ON image_text BEGIN
            INSERT INTO image_text_fts(image_text_fts, rowid, {cols}) VALUES ('delete', old.image_id, {old});
        END""",
        f"""CREATE TRIGGER image_text_au AFTER UPDATE ON image_text BEGIN
            INSERT INTO image_text_fts(image_text_fts, rowid, {cols}) VALUES ('delete', old.image_id, {old});
            INSERT INTO image_text_fts(rowid, {cols}) VALUES (new.image_id, {new});
        END""",
        "INSERT INTO image_text_fts(image_text_fts) VALUES ('rebuild')",
    ]


def _postgres_document(with_ocr: bool) -> list[str]:
    ocr = "\n        || setweight(to_tsvector('simple'::regconfig, coalesce(ocr, '')), 'D')" if with_ocr else ""
    return [
        "DROP INDEX IF EXISTS ix_image_text_document",
        "ALTER TABLE image_text DROP COLUMN IF EXISTS document",
        f"""ALTER TABLE image_text ADD COLUMN document tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, coalesce(name, '')), 'A')
        || setweight(to_tsvector('simple'::regconfig, coalesce(path, '')), 'B')
        || setweight(to_tsvector('simple'::regconfig, coalesce(caption, '')), 'C'){ocr}
    ) STORED""",
        "CREATE INDEX ix_image_text_document ON image_text USING gin (document)",
    ]


def _has_fts(bind: sa.Connection) -> bool:
    found = bind.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'image_text_fts'"
    ).first()
    return found is not None


def _rebuild_keyword_index(columns: list[str], with_ocr: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and _has_fts(bind):
        for name in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE image_text_fts")
        for statement in _sqlite_fts(columns):
            op.execute(statement)
    elif bind.dialect.name == "postgresql":
        for statement in _postgres_document(with_ocr):
            op.execute(statement)


def upgrade() -> None:
    op.create_table('image_ocr',
    sa.Column('image_id', ID, nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('languages', sa.String(length=200), nullable=False),
    sa.Column('words', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('image_id')
    )
    with op.batch_alter_table('image_text', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ocr', sa.Text(), nullable=True))
    _rebuild_keyword_index(["name", "path", "caption", "ocr"], with_ocr=True)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # The generated column reads `ocr`: make it without it before dropping the field.
        for statement in _postgres_document(with_ocr=False):
            op.execute(statement)
    elif bind.dialect.name == "sqlite":
        for name in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS image_text_fts")
    with op.batch_alter_table('image_text', schema=None) as batch_op:
        batch_op.drop_column('ocr')
    if bind.dialect.name == "sqlite":
        for statement in _sqlite_fts(["name", "path", "caption"]):
            op.execute(statement)
    op.drop_table('image_ocr')
