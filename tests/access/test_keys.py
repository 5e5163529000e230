"""Keys in SQL: hashed, found by prefix, revoked for good; the bootstrap key created once."""

from __future__ import annotations

import pytest

from pixseek.access.keys import (
    ApiKey,
    count_active_keys,
    create_key,
    ensure_bootstrap_key,
    find_key,
    keys_exist,
    revoke_key,
)
from pixseek.access.scopes import Scope, strongest
from pixseek.core.db import session_scope
from pixseek.core.errors import ApiKeyNotFound, ConfigError
from pixseek.core.settings import Settings


def test_a_key_is_found_by_itself_only(settings: Settings) -> None:
    with session_scope(settings) as session:
        assert not keys_exist(session)
        row, key = create_key(session, "web", Scope.SEARCH)
        assert find_key(session, key) is row
        tampered = key[:-1] + ("A" if key[-1] != "A" else "B")  # same prefix, other secret
        assert find_key(session, tampered) is None
        assert find_key(session, key + "x") is None
        assert find_key(session, "") is None
        assert key not in (row.key_hash, row.prefix) and len(row.key_hash) == 64
        assert keys_exist(session) and count_active_keys(session) == 1


def test_revoked_keys_are_not_found_and_still_count_as_existing(settings: Settings) -> None:
    with session_scope(settings) as session:
        row, key = create_key(session, "web", Scope.ADMIN)
        revoke_key(session, row.prefix)
        assert find_key(session, key) is None
        assert keys_exist(session) and count_active_keys(session) == 0
        with pytest.raises(ApiKeyNotFound):
            revoke_key(session, "pxs_unknown0")


def test_the_bootstrap_key_is_created_once(settings: Settings) -> None:
    value = "f" * 64
    with session_scope(settings) as session:
        first = ensure_bootstrap_key(session, value)
        assert ensure_bootstrap_key(session, value).id == first.id
        assert (first.name, first.scope) == ("bootstrap", "admin")
        assert find_key(session, value) is first
        assert session.query(ApiKey).count() == 1
        with pytest.raises(ConfigError, match="starts like the existing key"):
            ensure_bootstrap_key(session, "f" * 12 + "0" * 52)


def test_scopes_nest() -> None:
    assert Scope.ADMIN.includes(Scope.INGEST) and Scope.INGEST.includes(Scope.SEARCH)
    assert not Scope.SEARCH.includes(Scope.INGEST) and not Scope.INGEST.includes(Scope.ADMIN)
    assert strongest(["search", "ingest"]) is Scope.INGEST
    assert strongest([]) is None
