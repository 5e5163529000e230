"""`pixseek saved`: saved searches from the command line (add, list, show, refresh, rm)."""

from __future__ import annotations

import json

import click

from pixseek.cli.common import emit, handle_errors, json_option
from pixseek.core.db import ensure_schema, session_scope, utcnow
from pixseek.core.settings import get_settings


@click.group("saved")
def saved_group() -> None:
    """Saved searches: named queries whose matches are kept current after every publish."""


@saved_group.command("add")
@click.argument("name")
@click.argument("texts", nargs=-1)
@click.option("--query", "query_json", default=None, help="A whole SearchRequest as JSON, instead of TEXTS.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Matches kept.")
@json_option
@handle_errors
def add_command(name: str, texts: tuple[str, ...], query_json: str | None, limit: int, as_json: bool) -> None:
    """Save a query under NAME (TEXTS are its parts) and run it once."""
    from pixseek.api.saved_searches import out, refresh
    from pixseek.api.schemas.saved_searches import SavedSearchIn
    from pixseek.api.schemas.search import SearchRequest
    from pixseek.core.errors import InvalidRequest
    from pixseek.index.catalog.saved_searches import create_saved_search
    from pixseek.search.service import SearchService

    if (query_json is None) == (not texts):
        raise InvalidRequest("give TEXTS or --query, one of the two")
    raw = json.loads(query_json) if query_json else {"parts": [{"text": t} for t in texts], "limit": limit}
    body = SavedSearchIn(name=name, query=SearchRequest.model_validate(raw))  # the API's checks
    settings = get_settings()
    ensure_schema(settings)
    with session_scope(settings) as session:
        saved = create_saved_search(
            session, body.name, body.query.model_dump(mode="json", exclude_defaults=True)
        )
        refresh(session, SearchService(settings), saved)
        document = out(session, saved).model_dump(mode="json")
    if as_json:
        emit(document)
        return
    click.echo(f"{document['name']} (#{document['id']}): {document['matches']} match(es)")


@saved_group.command("list")
@json_option
@handle_errors
def list_command(as_json: bool) -> None:
    """Every saved search: matches, and new ones since it was last viewed."""
    from pixseek.api.saved_searches import out
    from pixseek.index.catalog.saved_searches import list_saved_searches

    settings = get_settings()
    ensure_schema(settings)
    with session_scope(settings) as session:
        rows = [out(session, saved).model_dump(mode="json") for saved in list_saved_searches(session)]
    if as_json:
        emit({"saved_searches": rows})
        return
    for row in rows:
        click.echo(
            f"#{row['id']:<4} {row['name']:<30} {row['matches']:>5} match(es), {row['new_matches']} new"
        )


@saved_group.command("show")
@click.argument("search_id", type=int)
@json_option
@handle_errors
def show_command(search_id: int, as_json: bool) -> None:
    """The matches of one saved search (new ones marked); counts as a view."""
    from pixseek.index.catalog.images import images_by_ids
    from pixseek.index.catalog.saved_searches import get_saved_search, hits_of

    settings = get_settings()
    ensure_schema(settings)
    with session_scope(settings) as session:
        saved = get_saved_search(session, search_id)
        hits = hits_of(session, search_id)
        images = images_by_ids(session, [h.image_id for h in hits])
        since = saved.viewed_at
        rows = [
            {"id": h.image_id, "bucket": images[h.image_id].bucket, "key": images[h.image_id].key,
             "score": h.score, "new": since is None or h.first_seen_at > since}
            for h in hits
            if h.image_id in images
        ]  # fmt: skip
        saved.viewed_at = utcnow()
        name = saved.name
    if as_json:
        emit({"id": search_id, "name": name, "results": rows})
        return
    for row in rows:
        click.echo(f"{'*' if row['new'] else ' '} {row['score']:.4f}  {row['bucket']}/{row['key']}")


@saved_group.command("rm")
@click.argument("search_id", type=int)
@handle_errors
def rm_command(search_id: int) -> None:
    """Forget a saved search and its matches."""
    from pixseek.index.catalog.saved_searches import delete_saved_search

    settings = get_settings()
    ensure_schema(settings)
    with session_scope(settings) as session:
        delete_saved_search(session, search_id)
    click.echo(f"saved search #{search_id} removed")
