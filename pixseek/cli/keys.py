"""`pixseek keys`: create, list and revoke the API's keys (docs/security.md)."""

from __future__ import annotations

import click

from pixseek.access.keys import create_key, list_keys, revoke_key
from pixseek.access.scopes import Scope
from pixseek.cli.common import emit, handle_errors, json_option
from pixseek.core.db import ensure_schema, session_scope
from pixseek.core.settings import get_settings


@click.group("keys")
def keys_group() -> None:
    """API keys: from the first one on, every API call needs a key."""


@keys_group.command("create")
@click.option("--name", required=True, help="Who or what uses the key, e.g. web-frontend.")
@click.option(
    "--scope",
    type=click.Choice([s.value for s in Scope]),
    required=True,
    help="search: read; ingest: also start jobs and decide duplicates; admin: also server details.",
)
@json_option
@handle_errors
def create_command(name: str, scope: str, as_json: bool) -> None:
    """Create a key and print it once: only its hash is stored."""
    settings = get_settings()
    ensure_schema(settings)
    with session_scope(settings) as session:
        row, key = create_key(session, name, scope)
        info = row.as_dict()
    if as_json:
        emit({**info, "key": key})
        return
    click.echo(key)
    click.echo(
        f"key {info['prefix']} ({info['name']}, scope {info['scope']}) created; "
        "store it now, it cannot be shown again",
        err=True,
    )


@keys_group.command("list")
@json_option
@handle_errors
def list_command(as_json: bool) -> None:
    """Every key by prefix, with its scope and when it was last used; never the key itself."""
    settings = get_settings()
    ensure_schema(settings)
    with session_scope(settings) as session:
        rows = [row.as_dict() for row in list_keys(session)]
    if as_json:
        emit({"keys": rows})
        return
    if not rows:
        click.echo("no keys: `pixseek serve` is open on loopback and refuses to listen elsewhere")
    for row in rows:
        state = f"revoked {row['revoked_at']:%Y-%m-%d %H:%M}" if row["revoked_at"] else "active"
        used = f"{row['last_used_at']:%Y-%m-%d %H:%M}" if row["last_used_at"] else "never"
        click.echo(
            f"{row['prefix']}  {row['scope']:<6}  {state:<24}  last used {used:<16}  "
            f"created {row['created_at']:%Y-%m-%d %H:%M}  {row['name']}"
        )


@keys_group.command("revoke")
@click.argument("prefix")
@json_option
@handle_errors
def revoke_command(prefix: str, as_json: bool) -> None:
    """Revoke the key with this prefix (from `pixseek keys list`); the API refuses it at once."""
    settings = get_settings()
    ensure_schema(settings)
    with session_scope(settings) as session:
        info = revoke_key(session, prefix).as_dict()
    if as_json:
        emit(info)
        return
    click.echo(f"key {info['prefix']} ({info['name']}) revoked at {info['revoked_at']}", err=True)
