"""toolbox: saved searches and the matches each has had

Revision ID: 0018
Revises: 0014
Create Date: 2026-12-08

A saved search is a named query (the API's SearchRequest as JSON); its current results are
kept with when each first matched, so a client can ask what is new since it last looked.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pixseek.core.db import UTCDateTime

revision: str = "0018"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "saved_searches",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("query", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("refreshed_at", UTCDateTime(), nullable=True),
        sa.Column("viewed_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name="uq_saved_searches_name"),
    )
    op.create_table(
        "saved_search_hits",
        sa.Column("search_id", ID, nullable=False),
        sa.Column("image_id", ID, nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["search_id"], ["saved_searches.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("search_id", "image_id"),
    )


def downgrade() -> None:
    op.drop_table("saved_search_hits")
    op.drop_table("saved_searches")
