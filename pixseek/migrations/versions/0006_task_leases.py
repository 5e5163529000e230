"""task_leases: which process runs which task, renewed while it runs (recovery of dead workers)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pixseek.core.db import UTCDateTime


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('task_leases',
    sa.Column('task_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('queue', sa.String(length=200), nullable=False),
    sa.Column('message', sa.JSON(), nullable=False),
    sa.Column('holder', sa.String(length=255), nullable=True),
    sa.Column('deaths', sa.Integer(), nullable=False),
    sa.Column('heartbeat_at', UTCDateTime(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('task_id')
    )
    with op.batch_alter_table('task_leases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_leases_heartbeat_at'), ['heartbeat_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('task_leases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_leases_heartbeat_at'))

    op.drop_table('task_leases')
