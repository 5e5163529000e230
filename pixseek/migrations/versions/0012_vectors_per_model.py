"""image_vectors keyed by (image_id, model): a new model's vectors beside the served ones (pixseek reindex)

Revision ID: 0012
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rebuild_on_sqlite(key: list[str]) -> None:
    """SQLite cannot change a primary key: copy the table into one with the new key."""
    op.create_table('_image_vectors_new',
    sa.Column('image_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('model', sa.String(length=256), nullable=False),
    sa.Column('dim', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint(*key)
    )
    op.execute(
        "INSERT INTO _image_vectors_new (image_id, model, dim, sha256, vector) "
        "SELECT image_id, model, dim, sha256, vector FROM image_vectors"
    )
    op.drop_index('ix_image_vectors_sha256_model', table_name='image_vectors')
    op.drop_table('image_vectors')
    op.rename_table('_image_vectors_new', 'image_vectors')
    op.create_index('ix_image_vectors_sha256_model', 'image_vectors', ['sha256', 'model'], unique=False)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_on_sqlite(['image_id', 'model'])
    else:
        op.drop_constraint('image_vectors_pkey', 'image_vectors', type_='primary')
        op.create_primary_key('image_vectors_pkey', 'image_vectors', ['image_id', 'model'])


def downgrade() -> None:
    # One vector per image again: keep the served model's (the one its catalog row names).
    op.execute(
        "DELETE FROM image_vectors WHERE model <> "
        "COALESCE((SELECT images.model FROM images WHERE images.id = image_vectors.image_id), model)"
    )
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_on_sqlite(['image_id'])
    else:
        op.drop_constraint('image_vectors_pkey', 'image_vectors', type_='primary')
        op.create_primary_key('image_vectors_pkey', 'image_vectors', ['image_id'])
