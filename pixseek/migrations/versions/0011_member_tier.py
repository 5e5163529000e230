"""duplicate_members.tier: each member's tier relative to its group's keeper

Revision ID: 0011
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('duplicate_members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tier', sa.String(length=16), nullable=True))
    # Groups written before held one tier each: their members (not the keeper) had the group's.
    op.execute(
        "UPDATE duplicate_members SET tier = (SELECT kind FROM duplicate_groups"
        " WHERE duplicate_groups.id = duplicate_members.group_id) WHERE position > 0"
    )


def downgrade() -> None:
    with op.batch_alter_table('duplicate_members', schema=None) as batch_op:
        batch_op.drop_column('tier')
