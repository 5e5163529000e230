"""patch_layout: how each image's stored patch grid covers it (centre crop, or the whole picture)

Revision ID: 0010
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL: patches from before this column, cut from the centred square crop.
    op.add_column('images', sa.Column('patch_layout', sa.String(length=16), nullable=True))


def downgrade() -> None:
    op.drop_column('images', 'patch_layout')
