"""Every ORM model, imported in one place so Alembic and `Base.metadata` see all tables."""

from pixseek.access.keys import ApiKey
from pixseek.core.db import Base
from pixseek.index.catalog.duplicates import (
    DuplicateDecision,
    DuplicateGroup,
    DuplicateMember,
    DuplicatePair,
    ImageHash,
)
from pixseek.index.catalog.events import Event, WebhookDelivery
from pixseek.index.catalog.exif import ImageExif
from pixseek.index.catalog.images import Image, ImageVector
from pixseek.index.catalog.jobs import Job
from pixseek.index.catalog.keywords import ImageText
from pixseek.index.catalog.leases import TaskLease
from pixseek.index.catalog.ocr import ImageOcr
from pixseek.index.catalog.saved_searches import SavedSearch, SavedSearchHit
from pixseek.index.catalog.selections import ImageScore, Selection, SelectionMember
from pixseek.index.catalog.tags import ImageTag, ImageTagState, TagVocabulary
from pixseek.index.catalog.thumbnails import Thumbnail

__all__ = [
    "ApiKey",
    "Base",
    "DuplicateDecision",
    "DuplicateGroup",
    "DuplicateMember",
    "DuplicatePair",
    "Event",
    "Image",
    "ImageExif",
    "ImageHash",
    "ImageOcr",
    "ImageScore",
    "ImageTag",
    "ImageTagState",
    "ImageText",
    "ImageVector",
    "Job",
    "SavedSearch",
    "SavedSearchHit",
    "Selection",
    "SelectionMember",
    "TagVocabulary",
    "TaskLease",
    "Thumbnail",
    "WebhookDelivery",
]
