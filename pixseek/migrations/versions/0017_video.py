"""video: files that are videos, and their segments as catalog items with start and end times

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0017"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IdType = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('images') as batch:
        batch.add_column(sa.Column('media', sa.String(length=8), nullable=True))
        batch.add_column(sa.Column('parent_id', IdType, nullable=True))
        batch.add_column(sa.Column('start_s', sa.Float(), nullable=True))
        batch.add_column(sa.Column('end_s', sa.Float(), nullable=True))
        batch.add_column(sa.Column('frame_s', sa.Float(), nullable=True))
        batch.add_column(sa.Column('duration_s', sa.Float(), nullable=True))
        batch.create_foreign_key(
            'fk_images_parent_id_images', 'images', ['parent_id'], ['id'], ondelete='CASCADE'
        )
        batch.create_index('ix_images_parent_id', ['parent_id'])


def downgrade() -> None:
    with op.batch_alter_table('images') as batch:
        batch.drop_index('ix_images_parent_id')
        batch.drop_constraint('fk_images_parent_id_images', type_='foreignkey')
        batch.drop_column('duration_s')
        batch.drop_column('frame_s')
        batch.drop_column('end_s')
        batch.drop_column('start_s')
        batch.drop_column('parent_id')
        batch.drop_column('media')
