"""enriched_at: when an image's enrichment (whole-picture patches, thumbnails, signature) was published

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pixseek.core.db import UTCDateTime


revision: str = '0016'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('images', sa.Column('enriched_at', UTCDateTime(), nullable=True))
    # Images ingested before had everything made in their one pass (centre-crop patches of older
    # catalogs are upgraded by `pixseek regions upgrade`, as before).
    op.execute('UPDATE images SET enriched_at = embedded_at WHERE embedded_at IS NOT NULL')
    op.create_index('ix_images_unenriched', 'images', ['enriched_at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_images_unenriched', table_name='images')
    op.drop_column('images', 'enriched_at')
