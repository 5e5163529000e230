"""Every ORM model, imported in one place so Alembic and `Base.metadata` see all tables."""

from index.catalog import Image, ImageVector
from index.text import ImageText
from ingest.jobs import Job
from pixseek.db import Base
from search.duplicates.models import (
    DuplicateDecision,
    DuplicateGroup,
    DuplicateMember,
    DuplicatePair,
    ImageHash,
)

__all__ = [
    "Base",
    "DuplicateDecision",
    "DuplicateGroup",
    "DuplicateMember",
    "DuplicatePair",
    "Image",
    "ImageHash",
    "ImageText",
    "ImageVector",
    "Job",
]
