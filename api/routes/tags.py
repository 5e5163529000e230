"""Tags: the vocabulary of zero-shot tags, with how many searchable images carry each."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from pixseek.access.scopes import Scope
from pixseek.api.auth import requires
from pixseek.api.deps import SessionDep, SettingsDep
from pixseek.index.tags import catalog_tag_counts, tagging_progress
from pixseek.index.vocabulary import load_vocabulary
from pixseek.model.identity import ModelId

router = APIRouter(prefix="/v1", tags=["tags"], dependencies=[requires(Scope.SEARCH)])


class TagOut(BaseModel):
    name: str
    threshold: float = Field(description="Probability among the vocabulary an image needs to carry the tag.")
    prompts: list[str]
    images: int = Field(description="Searchable images carrying the tag.")


class TagsResponse(BaseModel):
    tags: list[TagOut]
    scored: int = Field(description="Searchable images scored with the current vocabulary and model.")
    images: int = Field(description="Searchable images; fewer scored means tagging is catching up.")


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
