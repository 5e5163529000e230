"""Tags: the vocabulary of zero-shot tags, with how many searchable images carry each."""

from __future__ import annotations

from fastapi import APIRouter

from pixseek.access.scopes import Scope
from pixseek.api.auth import requires
from pixseek.api.deps import SessionDep, SettingsDep
from pixseek.api.schemas.tags import TagOut, TagsResponse
from pixseek.index.catalog.tags import catalog_tag_counts, tagging_progress
from pixseek.index.catalog.vocabulary import load_vocabulary
from pixseek.model.identity import ModelId

router = APIRouter(prefix="/v1", tags=["tags"], dependencies=[requires(Scope.SEARCH)])


@router.get("/tags", response_model=TagsResponse)
def list_tags(session: SessionDep, settings: SettingsDep) -> TagsResponse:
    """The tag vocabulary (defaults and the user's file), each tag with its threshold and image count."""
    vocabulary = load_vocabulary(settings.tag_vocabulary_file)
    counts = catalog_tag_counts(session)
    scored, images = tagging_progress(session, vocabulary.digest(ModelId.of(settings).key))
    return TagsResponse(
        tags=[
            TagOut(name=c.name, threshold=c.threshold, prompts=list(c.prompts), images=counts.get(c.name, 0))
            for c in vocabulary.categories
        ],
        scored=scored,
        images=images,
    )
