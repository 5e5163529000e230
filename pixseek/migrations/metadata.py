"""Every ORM model, imported in one place so Alembic and `Base.metadata` see all tables."""

from pixseek.access.keys import ApiKey
from pixseek.core.db import Base
from pixseek.index.catalog import Image, ImageVector
from pixseek.index.duplicates import (
    DuplicateDecision,
    DuplicateGroup,
    DuplicateMember,
    DuplicatePair,
    ImageHash,
)
from pixseek.index.jobs import Job
from pixseek.index.leases import TaskLease
from pixseek.index.ocr import ImageOcr
from pixseek.index.tags import ImageTag, ImageTagState, TagVocabulary
from pixseek.index.text import ImageText
from pixseek.index.thumbnails import Thumbnail

__all__ = [
    "ApiKey",
    "Base",
    "DuplicateDecision",
    "DuplicateGroup",
    "DuplicateMember",
    "DuplicatePair",
    "Image",
    "ImageHash",
    "ImageOcr",
    "ImageTag",
    "ImageTagState",
    "ImageText",
    "ImageVector",
    "Job",
    "TagVocabulary",
    "TaskLease",
    "Thumbnail",
]
