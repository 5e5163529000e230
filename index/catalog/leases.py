"""Task leases in SQL: which process runs which task, and when it last said it was alive.

A worker takes a lease when a task starts, renews it while the task runs and drops it when
the task ends. A lease whose renewals stopped (its process was killed) lapses, and a live
worker sends the task again (`pixseek.ingest.recovery`). Times are the database's clock,
so workers on machines whose clocks disagree still agree on which leases lapsed.

A lease keeps what it takes to send its task again: name, queue, arguments and the links
(callbacks, chain) of the message, and how many times a process died holding it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Integer, String, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from pixseek.core.db import Base, UTCDateTime, utcnow


class TaskLease(Base):
    __tablename__ = "task_leases"

    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    queue: Mapped[str] = mapped_column(String(200))
    # {"args": [...], "kwargs": {...}, "link": [...], "link_error": [...], "chain": [...]}
    message: Mapped[dict[str, Any]] = mapped_column(JSON)
    # "<worker name>:<pid>" of the process running it; None once sent again, until it starts.
    holder: Mapped[str | None] = mapped_column(String(255))
    # Processes that died holding it (lapsed, or found held by another process at start).
    deaths: Mapped[int] = mapped_column(Integer, default=0)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


@dataclass(frozen=True)
class Lapsed:
    """A lease whose holder stopped renewing it: what to send again, and who held it."""

    task_id: str
    name: str
    queue: str
    message: dict[str, Any]
    holder: str
    deaths: int


def database_now(session: Session) -> datetime:
    """The database's clock (PostgreSQL), or this machine's where the database is a local file."""
    if session.get_bind().dialect.name == "postgresql":
        now = session.scalar(select(func.now()))
        assert isinstance(now, datetime)
        return now
    return utcnow()


def take_lease(
    session: Session, *, task_id: str, name: str, queue: str, message: dict[str, Any], holder: str
) -> int:
    """Hold the task's lease for `holder`; returns the deaths counted on it so far.

    A lease still held by another process means that process died with the task (a broker
    that redelivers at once, a pool process killed): one more death.
    """
    now = database_now(session)
    lease = session.get(TaskLease, task_id, with_for_update=True)
    if lease is None:
        try:
            with session.begin_nested():
                session.add(
                    TaskLease(
                        task_id=task_id,
                        name=name,
                        queue=queue,
                        message=message,
                        holder=holder,
                        deaths=0,
                        heartbeat_at=now,
                    )
                )
            return 0
        except IntegrityError:  # another copy of the task started at this very moment
            lease = session.get(TaskLease, task_id, with_for_update=True, populate_existing=True)
            if lease is None:
                raise
    if lease.holder is not None and lease.holder != holder:
        lease.deaths += 1
    lease.holder = holder
    lease.heartbeat_at = now
    return lease.deaths


def renew_leases(session: Session, holder: str, task_ids: list[str]) -> set[str]:
    """Renew the holder's leases among `task_ids`; returns the ids it no longer holds."""
    if not task_ids:
        return set()
    session.execute(
        update(TaskLease)
        .where(TaskLease.task_id.in_(task_ids), TaskLease.holder == holder)
        .values(heartbeat_at=database_now(session))
        .execution_options(synchronize_session=False)
    )
    held = set(
        session.scalars(
            select(TaskLease.task_id).where(TaskLease.task_id.in_(task_ids), TaskLease.holder == holder)
        )
    )
    return set(task_ids) - held


def release_lease(session: Session, task_id: str, holder: str) -> None:
    """Drop the lease if `holder` still holds it (another process may have taken it over)."""
    session.execute(
        delete(TaskLease)
        .where(TaskLease.task_id == task_id, TaskLease.holder == holder)
        .execution_options(synchronize_session=False)
    )


def lapsed_leases(session: Session, seconds: float, limit: int = 100) -> list[Lapsed]:
    """Held leases not renewed for `seconds`, oldest first."""
    cutoff = database_now(session) - timedelta(seconds=seconds)
    rows = session.scalars(
        select(TaskLease)
        .where(TaskLease.holder.is_not(None), TaskLease.heartbeat_at < cutoff)
        .order_by(TaskLease.heartbeat_at)
        .limit(limit)
    )
    return [
        Lapsed(row.task_id, row.name, row.queue, dict(row.message), str(row.holder), row.deaths)
        for row in rows
    ]


def claim_lapsed(session: Session, lapsed: Lapsed, seconds: float) -> bool:
    """Mark a lapsed lease sent again (no holder, one more death) unless another worker did.

    The row stays locked until the caller commits, so the task is sent inside that
    transaction: if sending fails, the rollback leaves the lease lapsed for the next check.
    """
    cutoff = database_now(session) - timedelta(seconds=seconds)
    result = session.execute(
        update(TaskLease)
        .where(
            TaskLease.task_id == lapsed.task_id,
            TaskLease.holder == lapsed.holder,
            TaskLease.heartbeat_at < cutoff,
        )
        .values(holder=None, deaths=TaskLease.deaths + 1, heartbeat_at=database_now(session))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


def drop_lapsed(session: Session, lapsed: Lapsed, seconds: float) -> bool:
    """Delete a lapsed lease (its task was given up) unless its holder renewed it meanwhile."""
    cutoff = database_now(session) - timedelta(seconds=seconds)
    result = session.execute(
        delete(TaskLease)
        .where(
            TaskLease.task_id == lapsed.task_id,
            TaskLease.holder == lapsed.holder,
            TaskLease.heartbeat_at < cutoff,
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


def drop_unclaimed(session: Session, seconds: float) -> int:
    """Delete leases sent again more than `seconds` ago whose task never started.

    Their message was lost with a second worker before it started; the broker's own
    redelivery (or `pixseek jobs --resume`) covers those, and nothing renews the row.
    """
    cutoff = database_now(session) - timedelta(seconds=seconds)
    result = session.execute(
        delete(TaskLease)
        .where(TaskLease.holder.is_(None), TaskLease.heartbeat_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def lease_deaths(session: Session, task_id: str) -> int:
    """Deaths counted on a task's lease (0 without one)."""
    return int(session.scalar(select(TaskLease.deaths).where(TaskLease.task_id == task_id)) or 0)


def leased_first_args(session: Session) -> set[str]:
    """The first argument (a job id, for pixseek's job tasks) of every task holding a lease:
    running, or sent again after its worker died and not yet started."""
    found: set[str] = set()
    for message in session.scalars(select(TaskLease.message)):
        args = (message or {}).get("args") or []
        if args:
            found.add(str(args[0]))
    return found
