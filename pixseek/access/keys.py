"""API keys: a random secret shown once, stored as its SHA-256, found by a short public prefix.

A key is `pxs_` and 43 random URL-safe characters (256 bits). The first 12 characters are
its prefix: stored in clear, unique, shown by `pixseek keys list` and used to revoke it.
The whole key is stored only as its SHA-256 (a fast hash suffices for a random secret of
this length, unlike a password); a presented key is looked up by its prefix and its hash
compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from pixseek.access.scopes import Scope
from pixseek.core.db import Base, UTCDateTime, utcnow
from pixseek.core.errors import ApiKeyNotFound, ConfigError, InvalidRequest
from pixseek.core.settings import API_KEY_SHAPE

log = logging.getLogger(__name__)

KEY_MARK = "pxs_"
PREFIX_LENGTH = 12
MAX_NAME_LENGTH = 200
BOOTSTRAP_NAME = "bootstrap"


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("prefix", name="uq_api_keys_prefix"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    prefix: Mapped[str] = mapped_column(String(PREFIX_LENGTH))
    key_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the whole key, hex
    name: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH))
    scope: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_dict(self) -> dict[str, object]:
        """What `pixseek keys list` shows: never the key or its hash."""
        return {
            "id": self.id,
            "prefix": self.prefix,
            "name": self.name,
            "scope": self.scope,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "revoked_at": self.revoked_at,
        }


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _by_prefix(session: Session, prefix: str) -> ApiKey | None:
    return session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()


def create_key(session: Session, name: str, scope: Scope | str) -> tuple[ApiKey, str]:
    """A new key: its row, and the key itself, which is never stored and cannot be shown again."""
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise InvalidRequest(f"a key's name has 1 to {MAX_NAME_LENGTH} characters")
    scope = Scope(scope)
    while True:
        key = KEY_MARK + secrets.token_urlsafe(32)
        if _by_prefix(session, key[:PREFIX_LENGTH]) is None:  # 48 random bits: a clash is rare
            break
    row = ApiKey(prefix=key[:PREFIX_LENGTH], key_hash=hash_key(key), name=name, scope=scope)
    session.add(row)
    session.flush()
    log.info("access.key_created id=%s prefix=%s name=%s scope=%s", row.id, row.prefix, name, scope)
    return row, key


def find_key(session: Session, presented: str) -> ApiKey | None:
    """The active key `presented` is, or None (malformed, unknown or revoked)."""
    if not API_KEY_SHAPE.fullmatch(presented):
        return None
    row = _by_prefix(session, presented[:PREFIX_LENGTH])
    if row is None or not hmac.compare_digest(row.key_hash, hash_key(presented)):
        return None
    return row if row.active else None


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_key(session: Session, prefix: str) -> ApiKey:
    """Revoke the key with this prefix at once (again: no change). Rows stay, for the record."""
    row = _by_prefix(session, prefix)
    if row is None:
        raise ApiKeyNotFound(f"no API key with prefix {prefix!r} (see `pixseek keys list`)")
    if row.active:
        row.revoked_at = utcnow()
        log.info("access.key_revoked id=%s prefix=%s name=%s", row.id, row.prefix, row.name)
    return row


def keys_exist(session: Session) -> bool:
    """True once any key was ever created: from then on every call needs one, even if all are revoked."""
    return session.scalars(select(ApiKey.id).limit(1)).first() is not None


def count_active_keys(session: Session) -> int:
    active = select(func.count()).select_from(ApiKey).where(ApiKey.revoked_at.is_(None))
    return int(session.scalar(active) or 0)


def record_use(session: Session, key_id: int, when: datetime) -> None:
    row = session.get(ApiKey, key_id)
    if row is not None:
        row.last_used_at = when


def ensure_bootstrap_key(session: Session, key: str) -> ApiKey:
    """The admin key `bootstrap` with exactly this value, created unless it exists (idempotent).

    A revoked bootstrap key stays revoked; choose a new value to get a working one.
    """
    prefix = key[:PREFIX_LENGTH]
    for _ in range(2):  # a second API process may insert the same key at the same moment
        row = _by_prefix(session, prefix)
        if row is not None:
            if not hmac.compare_digest(row.key_hash, hash_key(key)):
                raise ConfigError(
                    f"PIXSEEK_BOOTSTRAP_API_KEY starts like the existing key {prefix}: choose another value"
                )
            if not row.active:
                log.warning("access.bootstrap_key_revoked prefix=%s; set a new value to get a key", prefix)
            return row
        try:
            with session.begin_nested():
                row = ApiKey(prefix=prefix, key_hash=hash_key(key), name=BOOTSTRAP_NAME, scope=Scope.ADMIN)
                session.add(row)
            log.info("access.bootstrap_key_created id=%s prefix=%s", row.id, prefix)
            return row
        except IntegrityError:
            continue
    raise ConfigError("PIXSEEK_BOOTSTRAP_API_KEY could not be stored")
