"""Scopes, strongest last: each includes the ones before it (admin ⊇ ingest ⊇ search)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Scope(enum.StrEnum):
    SEARCH = "search"  # read: search, images, duplicate groups, status counts
    INGEST = "ingest"  # and change the collection: jobs, duplicate detection and decisions
    ADMIN = "admin"  # and the operator's details: data dir, database, bucket paths

    def includes(self, other: Scope) -> bool:
        """True if a key with this scope may do what `other` allows."""
        return _ORDER.index(self) >= _ORDER.index(other)


_ORDER = (Scope.SEARCH, Scope.INGEST, Scope.ADMIN)


def strongest(scopes: Iterable[str]) -> Scope | None:
    """The scope that covers all of `scopes`, or None for none."""
    found = [Scope(s) for s in scopes]
    return max(found, key=_ORDER.index) if found else None


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key, or anyone at all while no key exists (the open default)."""

    scope: Scope
    name: str
    key_id: int | None  # None when the API is open
    rate_key: str  # what the rate limit counts by: the key, or the client's address when open

    @property
    def anonymous(self) -> bool:
        return self.key_id is None

    def allows(self, scope: Scope) -> bool:
        return self.scope.includes(scope)
