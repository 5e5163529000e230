"""Faults of the machine rather than of the request: a database that went away, a disk that is full.

Services let these exceptions rise as they are (a retry may still succeed); the edges classify
them here: a Celery task retries an outage for longer, the API answers 503 with Retry-After,
and a command prints the reason in one line instead of a traceback.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from pixseek.core.errors import DatabaseUnavailable, DiskFull, PixseekError

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
# SQLite's message (SQLITE_FULL) and PostgreSQL's SQLSTATE 53100 (disk_full).
_SQLITE_FULL = "database or disk is full"
_PG_DISK_FULL = "53100"
_NO_SPACE_TEXT = (os.strerror(errno.ENOSPC), os.strerror(errno.EDQUOT))


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and those it was raised from or during, innermost last."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def disk_full(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) is a write refused for want of space or quota."""
    for item in _chain(exc):
        if isinstance(item, DiskFull):
            return True
        if isinstance(item, OSError) and item.errno in _NO_SPACE:
            return True
        if isinstance(item, DBAPIError):
            orig = item.orig
            if _SQLITE_FULL in str(orig) or getattr(orig, "sqlstate", None) == _PG_DISK_FULL:
                return True
        if isinstance(item, RuntimeError) and any(text in str(item) for text in _NO_SPACE_TEXT):
            return True  # FAISS reports a failed write as a RuntimeError carrying strerror's text
    return False


def database_outage(exc: BaseException) -> bool:
    """True when `exc` says the database could not be reached or dropped the connection."""
    if disk_full(exc):
        return False
    for item in _chain(exc):
        if isinstance(item, DatabaseUnavailable):
            return True
        if isinstance(item, DBAPIError) and item.connection_invalidated:
            return True
        if isinstance(item, OperationalError | InterfaceError):
            return True
    return False


def _where(exc: BaseException) -> str:
    for item in _chain(exc):
        if isinstance(item, OSError) and item.filename:
            return f" (writing {item.filename})"
        if isinstance(item, DBAPIError):
            return " (writing the catalog database)"
    return ""


def as_fault(exc: BaseException) -> PixseekError | None:
    """The pixseek error a machine fault amounts to, with its reason in one line; None for others."""
    if isinstance(exc, DiskFull | DatabaseUnavailable):
        return exc
    if disk_full(exc):
        return DiskFull(f"no space left on the device{_where(exc)}: free some space and run it again")
    if database_outage(exc):
        return DatabaseUnavailable("the database cannot be reached; try again once it is back")
    return None


def one_line(exc: BaseException) -> str:
    """What to record of a failure: a fault's own sentence, else the exception's type and message."""
    fault = as_fault(exc)
    if fault is not None:
        return fault.detail
    return f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
