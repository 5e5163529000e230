"""Saved-search bodies: a name and a composed query; each search with its match counts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from pixseek.api.schemas.base import RequestBody
from pixseek.api.schemas.search import SearchHit, SearchRequest
from pixseek.search.limits import VALUE_NAME


class SavedSearchIn(RequestBody):
    name: str = Field(
        min_length=1,
        max_length=100,
        pattern=VALUE_NAME.pattern,  # not blank, no control characters
        description="Unique; what the sidebar shows.",
    )
    query: SearchRequest = Field(
        description="Any composed query with filters; its `limit` is how many matches are kept."
    )


class SavedSearchOut(BaseModel):
    id: int
    name: str
    query: SearchRequest
    matches: int = Field(description="Images matching now (at most the query's limit).")
    new_matches: int = Field(description="Of these, those that appeared since the search was last viewed.")
    refreshed_at: datetime | None = Field(description="When the results were last brought up to date.")
    viewed_at: datetime | None
    error: str | None = Field(default=None, description="Why the last refresh failed, if it did.")


class SavedSearchResults(SavedSearchOut):
    results: list[SearchHit] = Field(description="The current matches, best first.")
    new: list[int] = Field(description="Ids of the matches that were new when this view was asked for.")
