"""Tag bodies: the vocabulary with how many images carry each tag."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TagOut(BaseModel):
    name: str
    threshold: float = Field(description="Probability among the vocabulary an image needs to carry the tag.")
    prompts: list[str]
    images: int = Field(description="Searchable images carrying the tag.")


class TagsResponse(BaseModel):
    tags: list[TagOut]
    scored: int = Field(description="Searchable images scored with the current vocabulary and model.")
    images: int = Field(description="Searchable images; fewer scored means tagging is catching up.")
