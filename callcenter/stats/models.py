"""Statistics tables: 15-minute rollups of the contact log, kept up to date incrementally.

Every contact, and everything that happened in it, is reported in the 15-minute bucket in which the
contact started (``bucket`` = UTC epoch seconds of the bucket's start, a multiple of 900). Every
UTC offset in use is a multiple of 15 minutes, so hours, days and months of the hotline's time
zone are exact unions of these buckets.

Incremental upkeep: a ``before_flush`` hook marks the bucket of every ended contact that a
transaction changes (the contact row or a new timeline row) in ``stats_dirty_buckets``, in the
same transaction. ``StatsService.refresh`` recomputes just those buckets before a report is read.
Timeline rows inserted in bulk through the session (the contact writer) are marked by a
``do_orm_execute`` hook. Rows loaded without the session (demo seed, benchmark) need
``hotline stats rebuild``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, Integer, String, event
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column

from callcenter.contacts.models import Contact, ContactEventRow
from callcenter.db import Base, UtcDateTime

BUCKET_SECONDS = 900


def bucket_of(at: datetime) -> int:
    """The UTC epoch second at which the 15-minute bucket holding ``at`` starts."""
    return int(at.timestamp()) // BUCKET_SECONDS * BUCKET_SECONDS


class _Sums:
    """Additive columns shared by both rollups."""

    offered: Mapped[int] = mapped_column(Integer, default=0)
    answered: Mapped[int] = mapped_column(Integer, default=0)
    abandoned: Mapped[int] = mapped_column(Integer, default=0)
    short_abandoned: Mapped[int] = mapped_column(Integer, default=0)
    answered_in_sl: Mapped[int] = mapped_column(Integer, default=0)
    wait_answered_sum: Mapped[float] = mapped_column(Float, default=0.0)
    wait_abandoned_sum: Mapped[float] = mapped_column(Float, default=0.0)
    max_wait: Mapped[float] = mapped_column(Float, default=0.0)
    talk_sum: Mapped[float] = mapped_column(Float, default=0.0)
    # seconds callers were on hold (``call_resumed`` events; part of talk_sum: migration 0016)
    hold_sum: Mapped[float] = mapped_column(Float, default=0.0)


class _ContactSums(_Sums):
    """Contact-level figures on top of the queue sums (15-minute and daily tables alike)."""

    contacts: Mapped[int] = mapped_column(Integer, default=0)
    ivr_sum: Mapped[float] = mapped_column(Float, default=0.0)
    survey_offered: Mapped[int] = mapped_column(Integer, default=0)
    surveyed: Mapped[int] = mapped_column(Integer, default=0)
    satisfied: Mapped[int] = mapped_column(Integer, default=0)


class StatsContactRollup(_ContactSums, Base):
    """Per bucket, medium (phone | sms | web: the contact's channel; migration 0007) and
    outcome: contact-level figures (a transferred call counts once)."""

    __tablename__ = "stats_contacts_15m"

    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    medium: Mapped[str] = mapped_column(String(8), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(32), primary_key=True)


class StatsQueueRollup(_Sums, Base):
    """Per bucket, queue and agent: queue legs as Asterisk counts them (a transfer to another
    queue is a second offer). Offers and abandons carry ``agent = ''``; answers and talk time
    the answering agent."""

    __tablename__ = "stats_queues_15m"

    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    queue: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent: Mapped[str] = mapped_column(String(128), primary_key=True)
    completed: Mapped[int] = mapped_column(Integer, default=0)


class StatsContactDaily(_ContactSums, Base):
    """``stats_contacts_15m`` summed per day of the hotline's time zone (``day`` = UTC epoch of
    the local midnight); long ranges by day or month read this."""

    __tablename__ = "stats_contacts_1d"

    day: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    medium: Mapped[str] = mapped_column(String(8), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(32), primary_key=True)


class StatsQueueDaily(_Sums, Base):
    """``stats_queues_15m`` summed per local day."""

    __tablename__ = "stats_queues_1d"

    day: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    queue: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent: Mapped[str] = mapped_column(String(128), primary_key=True)
    completed: Mapped[int] = mapped_column(Integer, default=0)


class StatsDirtyBucket(Base):
    __tablename__ = "stats_dirty_buckets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bucket: Mapped[int] = mapped_column(BigInteger, nullable=False)


class StatsRollupState(Base):
    """One row: the thresholds the rollups were computed with (a change triggers a rebuild)."""

    __tablename__ = "stats_rollup_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    params: Mapped[str] = mapped_column(String(255), nullable=False)
    rebuilt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


def _contact_of(session: Session, obj: object) -> Contact | None:
    if isinstance(obj, Contact):
        return obj
    if isinstance(obj, ContactEventRow):
        if obj.contact is not None:
            return obj.contact
        if obj.contact_id is not None:
            return session.get(Contact, obj.contact_id)
    return None


def _mark(session: Session, contact: Contact | None) -> None:
    """Mark the bucket of ``contact`` dirty, once a transaction, if it has ended."""
    if contact is None or contact.ended_at is None or contact.started_at is None:
        return
    seen: set[int] = session.info.setdefault("stats_dirty_seen", set())
    bucket = bucket_of(contact.started_at)
    if bucket not in seen:
        seen.add(bucket)
        session.add(StatsDirtyBucket(bucket=bucket))


@event.listens_for(Session, "before_flush")
def _mark_dirty_buckets(session: Session, _context: Any, _instances: Any) -> None:
    for obj in [*session.new, *session.dirty]:
        if not isinstance(obj, StatsDirtyBucket):
            _mark(session, _contact_of(session, obj))


@event.listens_for(Session, "do_orm_execute")
def _mark_bulk_timeline(state: ORMExecuteState) -> None:
    """Timeline rows inserted in bulk through the session (the contact writer's
    ``session.execute(insert(ContactEventRow), rows)``) are no objects a flush sees: their
    contacts' buckets are marked here. A row of an ended contact that the transaction did
    not otherwise change (a hold ended after the call) would be missed without it."""
    if not state.is_insert or state.bind_mapper is not ContactEventRow.__mapper__:
        return
    params = state.parameters
    rows: list[Mapping[str, Any]] = (
        list(params) if isinstance(params, Sequence) else [params] if params else [])
    for contact_id in {row["contact_id"] for row in rows if row.get("contact_id")}:
        _mark(state.session, state.session.get(Contact, contact_id))


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_seen(session: Session) -> None:
    session.info.pop("stats_dirty_seen", None)
