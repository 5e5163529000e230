"""From credentials to a principal: the API's one authentication service (keys today).

The API is open while no key has ever been created (the embedded default on loopback; see
`exposure.check_exposure` for where that is refused). From the first key on, every call
needs one, even after all keys are revoked: revoking the last key never opens the API.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from pixseek.access.keys import ApiKey, find_key, keys_exist, record_use
from pixseek.access.ratelimit import RateLimiter
from pixseek.access.scopes import Principal, Scope
from pixseek.core.db import session_scope
from pixseek.core.errors import Unauthorized
from pixseek.core.settings import Settings

log = logging.getLogger(__name__)

# A key's `last_used_at` is written at most this often, so reads do not all become writes.
LAST_USED_EVERY_S = 60.0
MISSING_KEY = (
    "this API needs a key: send `Authorization: Bearer <key>`; "
    "an operator creates one with `pixseek keys create --name NAME --scope search`"
)


class Authenticator:
    """Resolves a presented key (or none) to a principal, and rate-limits principals."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst, clock)
        self._clock = clock
        self._closed = False  # once a key exists it always will (rows are revoked, never deleted)
        self._last_recorded: dict[int, float] = {}
        self._lock = threading.Lock()

    def is_open(self) -> bool:
        """True while no key has ever been created: every caller is admin."""
        if not self._closed:
            with session_scope(self.settings) as session:
                self._closed = keys_exist(session)
        return not self._closed

    def authenticate(self, token: str | None, client: str) -> Principal:
        """The principal behind `token` (None: no credentials) from `client`; raises Unauthorized."""
        if token is None:
            if self.is_open():
                return Principal(scope=Scope.ADMIN, name="anonymous", key_id=None, rate_key=f"addr:{client}")
            raise Unauthorized(MISSING_KEY)
        with session_scope(self.settings) as session:
            row = find_key(session, token)
            if row is None:
                raise Unauthorized("unknown or revoked API key")
            principal = Principal(
                scope=Scope(row.scope), name=row.name, key_id=row.id, rate_key=f"key:{row.id}"
            )
        self._note_use(principal.key_id)
        return principal

    def authenticate_key_id(self, key_id: int, key_hash: str) -> Principal:
        """The principal of a browser session made from key `key_id` (web UI sign-in).

        `key_hash` is the hash the key had at sign-in: a revoked key ends its sessions.
        """
        with session_scope(self.settings) as session:
            row = session.get(ApiKey, key_id)
            if row is None or not row.active or row.key_hash != key_hash:
                raise Unauthorized("the session's API key was revoked: sign in again")
            principal = Principal(
                scope=Scope(row.scope), name=row.name, key_id=row.id, rate_key=f"key:{row.id}"
            )
        self._note_use(principal.key_id)
        return principal

    def key_hash_of(self, key_id: int) -> str | None:
        """The stored hash of an active key (to bind a new session to it)."""
        with session_scope(self.settings) as session:
            row = session.get(ApiKey, key_id)
            return row.key_hash if row is not None and row.active else None

    def admit(self, principal: Principal) -> None:
        """Count one request against the principal's rate limit (RateLimited past it)."""
        self.limiter.check(principal.rate_key)

    def _note_use(self, key_id: int | None) -> None:
        if key_id is None:
            return
        now = self._clock()
        with self._lock:
            last = self._last_recorded.get(key_id)
            if last is not None and now - last < LAST_USED_EVERY_S:
                return
            self._last_recorded[key_id] = now
        try:
            with session_scope(self.settings) as session:
                record_use(session, key_id, datetime.now(UTC))
        except SQLAlchemyError as exc:  # a busy database must not fail the request itself
            log.warning("access.last_used_not_recorded key_id=%s reason=%s", key_id, type(exc).__name__)
