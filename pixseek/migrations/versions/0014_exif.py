"""exif: camera, lens, exposure, position and place of each photo

Revision ID: 0014
Revises: 0016
Create Date: 2026-12-07

One row per image read from this version on; images ingested before have none until
`pixseek exif` reads them (their EXIF only, nothing is embedded again).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pixseek.core.db import UTCDateTime

revision: str = "0014"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "image_exif",
        sa.Column("image_id", ID, nullable=False),
        sa.Column("camera_make", sa.String(length=120), nullable=True),
        sa.Column("camera_model", sa.String(length=120), nullable=True),
        sa.Column("camera", sa.String(length=240), nullable=True),
        sa.Column("lens", sa.String(length=240), nullable=True),
        sa.Column("focal_length", sa.Float(), nullable=True),
        sa.Column("focal_length_35mm", sa.Integer(), nullable=True),
        sa.Column("exposure_time", sa.Float(), nullable=True),
        sa.Column("f_number", sa.Float(), nullable=True),
        sa.Column("iso", sa.Integer(), nullable=True),
        sa.Column("orientation", sa.Integer(), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("altitude", sa.Float(), nullable=True),
        sa.Column("geo_x", sa.Float(), nullable=True),
        sa.Column("geo_y", sa.Float(), nullable=True),
        sa.Column("geo_z", sa.Float(), nullable=True),
        sa.Column("country_code", sa.String(length=2), nullable=True),
        sa.Column("country", sa.String(length=120), nullable=True),
        sa.Column("city", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=200), nullable=True),
        sa.Column("twin_key", sa.Text(), nullable=True),
        sa.Column("problems", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("image_id"),
    )
    for name, column in (
        ("camera", "camera"),
        ("lens", "lens"),
        ("latitude", "latitude"),
        ("country", "country"),
        ("city", "city"),
        ("twin_key", "twin_key"),
    ):
        op.create_index(f"ix_image_exif_{name}", "image_exif", [column])


def downgrade() -> None:
    op.drop_table("image_exif")
