"""Saved searches: named queries whose matches are kept current, with what is new since last viewed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from pixseek.access.scopes import Scope
from pixseek.api.auth import requires
from pixseek.api.contract import errors
from pixseek.api.deps import SearchDep, SessionDep
from pixseek.api.saved_searches import out, refresh
from pixseek.api.schemas.saved_searches import SavedSearchIn, SavedSearchOut, SavedSearchResults
from pixseek.api.schemas.search import SearchHit
from pixseek.core.db import utcnow
from pixseek.core.limits import MAX_JSON_INT
from pixseek.index.catalog.images import images_by_ids
from pixseek.index.catalog.saved_searches import (
    create_saved_search,
    delete_saved_search,
    get_saved_search,
    hits_of,
    list_saved_searches,
)

router = APIRouter(
    prefix="/v1/saved-searches", tags=["saved searches"], dependencies=[requires(Scope.SEARCH)]
)
SearchId = Annotated[int, Path(ge=1, le=MAX_JSON_INT)]


@router.post("", response_model=SavedSearchOut, status_code=201, responses=errors(409))
def create(body: SavedSearchIn, session: SessionDep, search: SearchDep) -> SavedSearchOut:
    """Save a composed query under a name and run it once; it is run again after every publish."""
    saved = create_saved_search(session, body.name, body.query.model_dump(mode="json", exclude_defaults=True))
    refresh(session, search, saved)
    return out(session, saved)


@router.get("", response_model=list[SavedSearchOut])
def saved_searches(session: SessionDep) -> list[SavedSearchOut]:
    """Every saved search with its number of matches and of new ones since it was last viewed."""
    return [out(session, saved) for saved in list_saved_searches(session)]


@router.get("/{search_id}", response_model=SavedSearchResults)
def view(
    search_id: SearchId,
    session: SessionDep,
    mark_viewed: Annotated[
        bool, Query(description="Count this as a view: later matches are the new ones.")
    ] = True,
) -> SavedSearchResults:
    """The current matches, best first, and which are new since the last view."""
    saved = get_saved_search(session, search_id)
    hits = hits_of(session, search_id)
    since = saved.viewed_at
    images = images_by_ids(session, [h.image_id for h in hits])
    results = [
        SearchHit(id=h.image_id, bucket=images[h.image_id].bucket, key=images[h.image_id].key, score=h.score)
        for h in hits
        if h.image_id in images
    ]
    new = [h.image_id for h in hits if since is None or h.first_seen_at > since]
    view = SavedSearchResults(**out(session, saved).model_dump(), results=results, new=new)
    if mark_viewed:
        saved.viewed_at = utcnow()
    return view


@router.post("/{search_id}/refresh", response_model=SavedSearchOut, responses=errors(409))
def refresh_now(search_id: SearchId, session: SessionDep, search: SearchDep) -> SavedSearchOut:
    """Run the saved search now (publishes run it anyway)."""
    saved = get_saved_search(session, search_id)
    refresh(session, search, saved)
    return out(session, saved)


@router.delete("/{search_id}", status_code=204, response_class=Response)
def remove(search_id: SearchId, session: SessionDep) -> Response:
    """Forget a saved search and its matches."""
    delete_saved_search(session, search_id)
    return Response(status_code=204)
