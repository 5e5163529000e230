"""duplicates: signatures, matched pairs, groups and decisions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pixseek.core.db import UTCDateTime


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('duplicate_decisions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('sha_a', sa.String(length=64), nullable=False),
    sa.Column('sha_b', sa.String(length=64), nullable=False),
    sa.Column('image_a', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('image_b', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('group_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sha_a', 'sha_b', name='uq_duplicate_decisions')
    )
    op.create_table('duplicate_groups',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('keeper_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('keeper_reason', sa.Text(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('decided_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('duplicate_groups', schema=None) as batch_op:
        batch_op.create_index('ix_duplicate_groups_status_kind', ['status', 'kind'], unique=False)

    op.create_table('duplicate_members',
    sa.Column('group_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('image_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['duplicate_groups.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'image_id')
    )
    with op.batch_alter_table('duplicate_members', schema=None) as batch_op:
        batch_op.create_index('ix_duplicate_members_image_id', ['image_id'], unique=False)

    op.create_table('duplicate_pairs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('image_a', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('image_b', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('hash_distance', sa.Integer(), nullable=True),
    sa.Column('patch_agreement', sa.Float(), nullable=True),
    sa.Column('cls_score', sa.Float(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('found_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['image_a'], ['images.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['image_b'], ['images.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('image_a', 'image_b', name='uq_duplicate_pairs')
    )
    with op.batch_alter_table('duplicate_pairs', schema=None) as batch_op:
        batch_op.create_index('ix_duplicate_pairs_image_b', ['image_b'], unique=False)

    op.create_table('image_hashes',
    sa.Column('image_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('codes', sa.LargeBinary(), nullable=False),
    sa.Column('thumbs', sa.LargeBinary(), nullable=False),
    sa.Column('checked_at', UTCDateTime(), nullable=True),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('image_id')
    )


def downgrade() -> None:
    op.drop_table('image_hashes')
    with op.batch_alter_table('duplicate_pairs', schema=None) as batch_op:
        batch_op.drop_index('ix_duplicate_pairs_image_b')

    op.drop_table('duplicate_pairs')
    with op.batch_alter_table('duplicate_members', schema=None) as batch_op:
        batch_op.drop_index('ix_duplicate_members_image_id')

    op.drop_table('duplicate_members')
    with op.batch_alter_table('duplicate_groups', schema=None) as batch_op:
        batch_op.drop_index('ix_duplicate_groups_status_kind')

    op.drop_table('duplicate_groups')
    op.drop_table('duplicate_decisions')
