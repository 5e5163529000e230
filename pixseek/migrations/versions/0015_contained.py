"""contained: which image of a `contained` duplicate pair holds the other

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08

Signatures move to version 3 (inset rectangles): the next detection job recomputes every
image's signature from its file, then compares them all again, as for any new version.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("duplicate_pairs") as batch:
        batch.add_column(sa.Column("container", ID, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("duplicate_pairs") as batch:
        batch.drop_column("container")
