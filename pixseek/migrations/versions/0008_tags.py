"""tags: zero-shot tags per image with their scores, what they were scored with, prompt embeddings

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pixseek.core.db import UTCDateTime

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('image_tags',
    sa.Column('image_id', ID, nullable=False),
    sa.Column('tag', sa.String(length=64), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('similarity', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('image_id', 'tag')
    )
    op.create_index('ix_image_tags_tag_image', 'image_tags', ['tag', 'image_id'], unique=False)
    op.create_table('image_tag_state',
    sa.Column('image_id', ID, nullable=False),
    sa.Column('vocabulary', sa.String(length=64), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('image_id')
    )
    op.create_index('ix_image_tag_state_vocabulary', 'image_tag_state', ['vocabulary'], unique=False)
    op.create_table('tag_vocabularies',
    sa.Column('prompt_digest', sa.String(length=64), nullable=False),
    sa.Column('model', sa.String(length=256), nullable=False),
    sa.Column('names', sa.JSON(), nullable=False),
    sa.Column('dim', sa.Integer(), nullable=False),
    sa.Column('scale', sa.Float(), nullable=False),
    sa.Column('vectors', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('prompt_digest')
    )


def downgrade() -> None:
    op.drop_table('tag_vocabularies')
    op.drop_index('ix_image_tag_state_vocabulary', table_name='image_tag_state')
    op.drop_table('image_tag_state')
    op.drop_index('ix_image_tags_tag_image', table_name='image_tags')
    op.drop_table('image_tags')
