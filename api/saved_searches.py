"""Saved searches kept current: run each one after every publish, and when asked.

The query is stored as the API's `SearchRequest`, so it is run here, above the search
pipeline; `create_app` registers `refresh_all` to follow each publish in its process
(pixseek/core/events.py), the embedded job runner's ingests included.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from pixseek.api.schemas.saved_searches import SavedSearchOut
from pixseek.api.schemas.search import SearchRequest
from pixseek.core.db import session_scope
from pixseek.core.errors import PixseekError
from pixseek.core.settings import Settings
from pixseek.index.catalog.events import record_event
from pixseek.index.catalog.saved_searches import SavedSearch, counts, list_saved_searches, replace_hits
from pixseek.search.service import SearchService

log = logging.getLogger(__name__)


def refresh(session: Session, search: SearchService, saved: SavedSearch) -> list[int]:
    """Run one saved search and keep its results; the ids that are new matches."""
    query = SearchRequest.model_validate(saved.query).to_query()
    try:
        page = search.search(session, query)
    except PixseekError as exc:  # no index yet, an image part deleted since: say so, keep the old results
        saved.error = f"{exc.code}: {exc.detail}"[:500]
        return []
    return replace_hits(session, saved, [(hit.id, float(hit.score)) for hit in page.hits])


def refresh_all(settings: Settings, search: SearchService) -> dict[str, list[int]]:
    """Every saved search brought up to date; the new matches of each, by name."""
    new: dict[str, list[int]] = {}
    search.holder.recheck()  # the generation just published, not the one read half a second ago
    with session_scope(settings) as session:
        for saved in list_saved_searches(session):
            found = refresh(session, search, saved)
            if found:
                new[saved.name] = found
                payload = {"saved_search_id": saved.id, "name": saved.name, "new": found}
                record_event(session, "saved_search.new_matches", payload)
    if new:
        log.info("saved_searches.new_matches %s", {name: len(ids) for name, ids in new.items()})
    return new


def out(session: Session, saved: SavedSearch) -> SavedSearchOut:
    matches, new = counts(session, saved)
    return SavedSearchOut(
        id=saved.id,
        name=saved.name,
        query=SearchRequest.model_validate(saved.query),
        matches=matches,
        new_matches=new,
        refreshed_at=saved.refreshed_at,
        viewed_at=saved.viewed_at,
        error=saved.error,
    )
