"""curation: saved selections (name, ids, how they were made) and per-image uniqueness scores

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08

New tables only; nothing existing changes. An image moved to the quarantine by
`pixseek duplicates apply` gets the status `quarantined` (a value of the existing column).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pixseek.core.db import UTCDateTime

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "selections",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "selection_members",
        sa.Column("selection_id", ID, sa.ForeignKey("selections.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("image_id", ID, sa.ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
    )
    op.create_index("ix_selection_members_image_id", "selection_members", ["image_id"])
    op.create_table(
        "image_scores",
        sa.Column("image_id", ID, sa.ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("uniqueness", sa.Float(), nullable=False),
        sa.Column("typicality", sa.Float(), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_image_scores_uniqueness", "image_scores", ["uniqueness"])


def downgrade() -> None:
    op.drop_index("ix_image_scores_uniqueness", table_name="image_scores")
    op.drop_table("image_scores")
    op.drop_index("ix_selection_members_image_id", table_name="selection_members")
    op.drop_table("selection_members")
    op.drop_table("selections")
