"""The contact log: stores the IVR's contact events and derives each contact's outcome.

:class:`ContactService` applies one event in one transaction (a contact row plus a timeline row).
:class:`ContactLog` implements the IVR's ``ContactRecorder``: ``record`` queues the event at once,
one writer task applies the events in order in a worker thread, so call handling never waits on
the database and no event is reordered. An event the database refuses goes to a durable spool
on disk and is replayed in order (``callcenter/contacts/spool.py``); every event has a key, and
one whose key is stored already is applied once only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Select, func, insert, select
from sqlalchemy.exc import DataError, DBAPIError, DisconnectionError, IntegrityError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.orm import Session, selectinload

from callcenter.contacts.models import Contact, ContactEventRow, Direction, Outcome
from callcenter.contacts.spool import KeyAssigner, Spool, event_key
from callcenter.db import Database
from ivr.clock import Clock
from ivr.events import (
    AgentCompleted,
    AgentConnected,
    CallEnded,
    CallStarted,
    EventFormatError,
    EventKind,
    EventRecord,
    IvrHangup,
    MenuNodeEntered,
    OutcomeSet,
    QueueAbandoned,
    QueueJoined,
    SelfService,
    Survey,
    Transfer,
    field_name,
)
from ivr.ports import ContactEvent

log = logging.getLogger(__name__)

FAILURE_REASONS = {"agi_error", "internal_error", "loop_guard", "prompt_failed"}


def derive_outcome(contact: Contact) -> Outcome:
    """The single outcome of an ended contact (see docs/metrics.md)."""
    if contact.explicit_outcome == Outcome.WRONG_NUMBER:
        return Outcome.WRONG_NUMBER  # an outbound call answered by the wrong person
    if contact.agent_connected_at is not None:
        return Outcome.ANSWERED
    if contact.explicit_outcome:
        return Outcome(contact.explicit_outcome)
    if contact.queue_joined_at is not None:
        return Outcome.ABANDONED_QUEUE
    if contact.self_served:
        return Outcome.SELF_SERVICE
    if contact.ivr_end_reason in FAILURE_REASONS:
        return Outcome.FAILED
    return Outcome.ABANDONED_IVR


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


# the events a contact's talk time is derived from (:func:`talk_seconds`)
TALK_KINDS = (str(EventKind.AGENT_CONNECTED), str(EventKind.AGENT_COMPLETED),
              str(EventKind.QUEUE_JOINED))


@dataclass
class _Leg:
    agent: str
    connected_at: datetime
    resynced: bool = False
    left_at: datetime | None = None  # the caller joined another queue (left this agent)
    done: bool = False


def talk_intervals(events: Sequence[tuple[datetime, EventRecord]], ended_at: datetime | None
                   ) -> list[tuple[datetime, datetime]]:
    """The agent legs' talk intervals of a contact, from its ``agent_connected`` /
    ``agent_completed`` / ``queue_joined`` events in the order they were recorded
    (docs/metrics.md "Durations").

    A completion ends the earliest open leg of its agent (or, without one, a leg a reconnection
    derived, agent ``unknown``); with a ``talk_time`` (Asterisk's) the leg is that many seconds
    ending at the completion, otherwise connect to completion. The caller joining another
    queue (a transfer, a redirect; not a consultation's leg) ends every leg open then: a
    completion seen later is cut there. A leg never completed (the bridge lost it) runs from its
    connect to that join, or to the contact's end once it has ended."""
    legs: list[_Leg] = []
    out: list[tuple[datetime, datetime]] = []
    for at, record in events:
        if isinstance(record, AgentConnected):
            legs.append(_Leg(record.agent, at, resynced=bool(record.resynced)))
        elif isinstance(record, QueueJoined) and not record.consult:
            for leg in legs:
                if not leg.done and leg.left_at is None:
                    leg.left_at = at
        elif isinstance(record, AgentCompleted):
            ended = next((x for x in legs if not x.done and x.agent == record.agent
                          and not x.resynced), None) or next(
                (x for x in legs if not x.done and x.resynced), None)
            if ended is not None:
                ended.done = True
            if record.talk_time is not None:
                lo: datetime | None = at - timedelta(seconds=max(0.0, record.talk_time))
            else:
                lo = ended.connected_at if ended is not None else None
            hi = (min(at, ended.left_at) if ended is not None and ended.left_at is not None
                  else at)
            if lo is not None and hi > lo:
                out.append((lo, hi))
    for leg in legs:
        end = leg.left_at or ended_at
        if not leg.done and end is not None and end > leg.connected_at:
            out.append((leg.connected_at, end))
    return out


def union_seconds(intervals: Sequence[tuple[datetime, datetime]]) -> float:
    """Seconds covered by at least one of ``intervals`` (overlaps counted once)."""
    total = 0.0
    current: tuple[datetime, datetime] | None = None
    for lo, hi in sorted(intervals):
        if hi < lo:
            continue
        if current is not None and lo <= current[1]:
            current = (current[0], max(current[1], hi))
            continue
        if current is not None:
            total += (current[1] - current[0]).total_seconds()
        current = (lo, hi)
    if current is not None:
        total += (current[1] - current[0]).total_seconds()
    return total


def talk_seconds(events: Sequence[tuple[datetime, EventRecord]], ended_at: datetime | None
                 ) -> float | None:
    """The time the caller talked with at least one agent: the union of the legs' talk
    intervals (a consultation or a three-way call counts the agents' overlap once; legs one
    after another add up). None while no leg has a talk interval."""
    intervals = talk_intervals(events, ended_at)
    return union_seconds(intervals) if intervals else None


class ContactService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def apply(self, event: ContactEvent) -> bool:
        """Store ``event`` and update its contact; False (and nothing changed) when an event
        with the same key is stored already (a replay or a re-derivation)."""
        key = event_key(event)
        try:
            with self.db.transaction() as session:
                contact = self._lock_or_create(session, [event])[event.linkedid]
                rows: list[dict[str, Any]] = []
                stored = self._apply(session, event, key, contact, rows)
                self._insert(session, rows)
                return stored
        except IntegrityError:
            # the key is stored already (a replay, a re-derivation, or another writer): the
            # unique key refused the row and the whole transaction rolled back
            if self.has_event(key):
                return False
            raise

    def apply_batch(self, events: Sequence[ContactEvent]) -> list[bool]:
        """Store ``events`` in order in one transaction (each as :meth:`apply` would): one
        commit and one look-up per contact instead of one per event, which is most of what
        the bridge spends its CPU on under load. Raises, with nothing stored, when any event
        fails, a stored key included: the caller then stores them one by one."""
        with self.db.transaction() as session:
            contacts = self._lock_or_create(session, events)
            rows: list[dict[str, Any]] = []
            stored = [self._apply(session, event, event_key(event), contacts[event.linkedid],
                                  rows) for event in events]
            self._insert(session, rows)
            return stored

    @staticmethod
    def _insert(session: Session, rows: list[dict[str, Any]]) -> None:
        """The timeline rows waiting, in one ORM bulk insert, in their order (their ids in
        it): their objects were never used, and making them was a fifth of the writer's CPU.
        The statistics mark the buckets of the ended contacts they belong to
        (callcenter/stats/models.py, ``do_orm_execute``)."""
        if rows:
            session.execute(insert(ContactEventRow), rows)
            rows.clear()

    @staticmethod
    def _lock_or_create(session: Session, events: Sequence[ContactEvent]
                        ) -> dict[str, Contact]:
        """The contacts of ``events``, locked in one query (in id order, as every batch
        locks them: two writers cannot wait on each other), the missing ones created at
        their first event, in one flush. Looked up one event at a
        time, each look-up flushed the rows before it one by one: 3,186 us of CPU an event on
        PostgreSQL, 854 now; SQLite 1,702 and 603 (`benchmarks/contacts_bench.py`, 200
        calls' events interleaved, 50 a batch)."""
        first: dict[str, ContactEvent] = {}
        for event in events:
            first.setdefault(event.linkedid, event)
        contacts = {c.linkedid: c for c in session.scalars(
            select(Contact).where(Contact.linkedid.in_(sorted(first)))
            .order_by(Contact.id).with_for_update())}
        missing = [Contact(linkedid=linkedid, started_at=event.at, caller_number="",
                           channel="", medium="phone", direction="inbound",
                           self_served=False, reconciled=False)
                   for linkedid, event in first.items() if linkedid not in contacts]
        if missing:
            session.add_all(missing)
            session.flush()
            contacts.update((c.linkedid, c) for c in missing)
        return contacts

    def has_event(self, key: str) -> bool:
        with self.db.session() as session:
            return session.scalar(select(ContactEventRow.id)
                                  .where(ContactEventRow.event_key == key)) is not None

    def _apply(self, session: Session, event: ContactEvent, key: str, contact: Contact,
               rows: list[dict[str, Any]]) -> bool:
        """Store ``event`` on its ``contact`` (locked by :meth:`_lock_or_create`); its
        timeline row joins ``rows``, inserted by the caller (or here, before a look-up of the
        stored legs)."""
        record = event.record
        # the talk time is the union of the agent legs: derived again from the stored legs
        # whenever a leg or the end comes (an expert's end may come after the call's). The
        # end changes it only through a leg still open, so not where no agent ever answered
        # (most calls: the query was a tenth of the bridge's CPU under load)
        legs: list[tuple[datetime, EventRecord]] | None = None
        if isinstance(record, AgentConnected | AgentCompleted) or (
                isinstance(record, CallEnded) and contact.agent_connected_at is not None):
            self._insert(session, rows)
            legs = self._legs(session, contact)
        rows.append({"contact_id": contact.id, "at": event.at, "kind": str(event.kind),
                     "data": event.data, "event_key": key})
        self._derive(contact, record, event.at)
        if legs is not None:
            if not isinstance(record, CallEnded):
                legs.append((event.at, record))
            contact.talk_seconds = talk_seconds(legs, contact.ended_at)
        return True

    @staticmethod
    def _legs(session: Session, contact: Contact) -> list[tuple[datetime, EventRecord]]:
        """The contact's stored ``agent_connected`` / ``agent_completed`` events, in order."""
        out: list[tuple[datetime, EventRecord]] = []
        for row in session.scalars(
                select(ContactEventRow).where(ContactEventRow.contact_id == contact.id,
                                              ContactEventRow.kind.in_(TALK_KINDS))
                .order_by(ContactEventRow.id)):
            try:
                out.append((row.at, row.record()))
            except EventFormatError as exc:  # only a hand-edited database holds one
                log.warning("contact %s: a %s event left out of the talk time: %s",
                            contact.linkedid, row.kind, exc)
        return out

    @staticmethod
    def _derive(contact: Contact, record: EventRecord, at: datetime) -> None:
        """Update the contact row by one event's typed record."""
        match record:
            case CallStarted():
                contact.caller_number = record.caller[:64]
                contact.channel = (record.channel or "")[:128]
                contact.medium = (record.medium or "phone")[:8]
                contact.direction = (record.direction or "inbound")[:8]
                contact.started_at = min(contact.started_at, at)
            case MenuNodeEntered():
                contact.last_node = record.node[:64]
            case SelfService():
                contact.self_served = True
            case Transfer():
                contact.queue = record.queue[:64] or contact.queue
                contact.ivr_seconds = _seconds(contact.started_at, at)
            case QueueJoined() if record.consult:
                pass  # the consultation's offer to the expert queue: the caller's queue stays
            case QueueJoined():
                contact.queue = record.queue[:64]
                if contact.queue_joined_at is None:
                    contact.queue_joined_at = at
                if contact.ivr_seconds is None:
                    contact.ivr_seconds = _seconds(contact.started_at, at)
            case AgentConnected():
                contact.agent = record.agent[:128]
                contact.queue = record.queue or contact.queue
                if contact.agent_connected_at is None:
                    contact.agent_connected_at = at
                if record.consult and contact.queue_wait_seconds is not None:
                    return  # the expert's answer: the caller's wait was the first queue's
                contact.queue_wait_seconds = (
                    record.hold_time if record.hold_time and not record.resynced
                    else _seconds(contact.queue_joined_at, at)
                )
            case QueueAbandoned():
                contact.queue_wait_seconds = (
                    record.hold_time if record.hold_time is not None
                    else _seconds(contact.queue_joined_at, at))
            case IvrHangup():
                contact.ivr_end_reason = record.reason[:64]
                if contact.ended_at is not None:
                    # Asterisk ended the call itself (a prompt it could not play ends the
                    # AsyncAGI, and the dialplan hangs up): the menu says why just after the
                    # hang-up was recorded
                    contact.outcome = str(derive_outcome(contact))
            case Survey():
                if record.score is not None and 1 <= record.score <= 3:
                    contact.survey_score = record.score
            case OutcomeSet():
                contact.explicit_outcome = str(Outcome(record.outcome))
                if contact.ended_at is not None and contact.direction == "outbound":
                    # the agent's verdict after the callback (wrong number) comes after the end
                    contact.outcome = str(derive_outcome(contact))
            case CallEnded():
                if contact.ended_at is not None:
                    return  # a duplicate end (e.g. reconciliation after the real hangup)
                contact.ended_at = at
                contact.hangup_cause = record.cause
                contact.hangup_cause_txt = (record.cause_txt or "")[:128]
                contact.reconciled = bool(record.reconciled)
                if contact.ivr_seconds is None:
                    contact.ivr_seconds = _seconds(contact.started_at, at)
                if (contact.queue_joined_at is not None and contact.agent_connected_at is None
                        and contact.queue_wait_seconds is None):
                    contact.queue_wait_seconds = _seconds(contact.queue_joined_at, at)
                contact.outcome = str(derive_outcome(contact))

    # -- queries ----------------------------------------------------------------------------

    def open_linkedids(self) -> list[str]:
        with self.db.session() as session:
            return list(session.scalars(select(Contact.linkedid).where(Contact.ended_at.is_(None))))

    def histories(self, linkedids: Collection[str]) -> dict[str, list[EventRecord]]:
        """The stored events of these contacts, in order, as typed records."""
        out: dict[str, list[EventRecord]] = {}
        with self.db.session() as session:
            rows = session.execute(
                select(Contact.linkedid, ContactEventRow)
                .join(ContactEventRow, ContactEventRow.contact_id == Contact.id)
                .where(Contact.linkedid.in_(list(linkedids)))
                .order_by(ContactEventRow.id))
            for linkedid, row in rows:
                out.setdefault(linkedid, []).append(row.record())
        return out

    def get(self, contact_id: int) -> Contact | None:
        with self.db.session() as session:
            return session.scalar(
                select(Contact).where(Contact.id == contact_id)
                .options(selectinload(Contact.events))
            )

    def get_by_linkedid(self, linkedid: str) -> Contact | None:
        with self.db.session() as session:
            return session.scalar(
                select(Contact).where(Contact.linkedid == linkedid)
                .options(selectinload(Contact.events))
            )

    def search(self, filters: ContactFilters, limit: int = 100, offset: int = 0
               ) -> tuple[int, Sequence[Contact]]:
        query = filters.apply(select(Contact))
        with self.db.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(Contact.started_at.desc(), Contact.id.desc())
                .limit(limit).offset(offset)
            ).all()
        return total, rows


@dataclass(frozen=True)
class ContactFilters:
    start: datetime | None = None
    end: datetime | None = None
    outcome: Outcome | None = None
    queue: str | None = None
    agent: str | None = None
    caller: str | None = None
    # only contacts this agent was connected to (any of the agents of a transferred call)
    handled_by: str | None = None
    linkedid: str | None = None
    # contacts from any of these numbers (the call card: the caller and the taxpayer's mobile)
    callers: tuple[str, ...] | None = None
    direction: Direction | None = None  # inbound, or outbound callback attempts

    def apply(self, query: Select[tuple[Contact]]) -> Select[tuple[Contact]]:
        if self.start is not None:
            query = query.where(Contact.started_at >= self.start)
        if self.end is not None:
            query = query.where(Contact.started_at < self.end)
        if self.outcome is not None:
            query = query.where(Contact.outcome == str(self.outcome))
        if self.queue:
            query = query.where(Contact.queue == self.queue)
        if self.agent:
            query = query.where(Contact.agent == self.agent)
        if self.caller:
            query = query.where(Contact.caller_number == self.caller)
        if self.callers:
            query = query.where(Contact.caller_number.in_(self.callers))
        if self.handled_by is not None:
            query = query.where(Contact.id.in_(handled_by(self.handled_by)))
        if self.linkedid:
            query = query.where(Contact.linkedid == self.linkedid)
        if self.direction is not None:
            query = query.where(Contact.direction == str(self.direction))
        return query


def handled_by(agent: str) -> Select[tuple[int]]:
    """Ids of the contacts ``agent`` was connected to (from the timeline)."""
    return select(ContactEventRow.contact_id).where(
        ContactEventRow.kind == str(EventKind.AGENT_CONNECTED),
        ContactEventRow.data[field_name(AgentConnected, "agent")].as_string() == agent,
    )


def _is_poison(exc: BaseException) -> bool:
    """Whether ``exc`` is this event's fault (it will fail again however long we wait: a
    constraint, a value the column refuses, a bug deriving it) rather than the database's
    (down, disk full, locked, a connection lost), which waits as long as it takes."""
    if isinstance(exc, IntegrityError | DataError):
        return True
    return not isinstance(exc, DBAPIError | DisconnectionError | SATimeoutError | OSError)


class ContactLog:
    """The IVR's ContactRecorder, backed by :class:`ContactService`.

    ``record`` queues the event; a writer task stores the events in order, those waiting
    together (up to ``max_batch``) in one transaction, and one by one when that fails. An event the
    database refuses goes to the durable spool (``callcenter/contacts/spool.py``), and so does
    every later event while the spool holds any, so that no contact's events are reordered; a
    replay task stores the spool's head with backoff until the database takes it. A poison
    event (refused ``max_failures`` times while the database answers) goes to the dead-letter
    file. Every event carries a key (:class:`KeyAssigner`): one stored already is skipped.
    """

    def __init__(self, service: ContactService, spool_dir: Path | None = None, *,
                 clock: Clock | None = None, max_failures: int = 8,
                 backoff_initial: float = 0.05, backoff_max: float = 2.0,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 max_batch: int = 100, gather_s: float = 0.0) -> None:
        self.service = service
        self.spool = Spool(spool_dir)
        self.clock = clock
        self.max_failures = max_failures
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._sleep = sleep
        self.max_batch = max_batch  # events waiting together are stored in one transaction
        # how long the writer waits, after an event, for others to join it in its transaction
        # (none when a batch is waiting already): a transaction costs the process about
        # 3.5 ms of CPU whatever it holds, so under a steady trickle of calls one event a
        # transaction was most of the bridge's CPU (`benchmarks/contacts_bench.py`)
        self.gather_s = gather_s
        self._keys = KeyAssigner()
        self._queue: asyncio.Queue[ContactEvent] = asyncio.Queue()
        self._lock = asyncio.Lock()
        self._work = asyncio.Event()     # the spool has something to replay
        self._drained = asyncio.Event()  # the spool is empty
        self._drained.set()
        self._worker: asyncio.Task[None] | None = None
        self._replayer: asyncio.Task[None] | None = None
        self.failures = 0     # events dead-lettered by this process
        self.written = 0      # events stored
        self.duplicates = 0   # events whose key was stored already (skipped)
        self.spooled = 0      # events that went through the spool
        self.spool_errors = 0  # spool writes that failed (kept in memory only)
        self.head_failures = 0  # failed tries of the spool's current head
        self.batches = 0      # transactions that stored several events at once

    def start(self) -> None:
        if self._worker is None:
            self.spool.open()  # what a previous run left is replayed before anything new
            if len(self.spool):
                self._drained.clear()
                self._work.set()
            loop = asyncio.get_running_loop()
            self._replayer = loop.create_task(self._replay(), name="contact-log-replay")
            self._worker = loop.create_task(self._run(), name="contact-log")

    def record(self, event: ContactEvent) -> None:
        self._queue.put_nowait(self._keys(event))

    async def flush(self) -> None:
        """Wait until every recorded event is stored (or dead-lettered)."""
        await self._queue.join()
        while len(self.spool):
            await self._drained.wait()

    async def persisted(self) -> None:
        """Wait until every recorded event is stored or spooled (durable), not for the
        database."""
        await self._queue.join()

    async def open_contacts(self) -> list[str]:
        await self.flush()
        return await asyncio.to_thread(self.service.open_linkedids)

    async def contact_histories(self, linkedids: Collection[str]
                                ) -> dict[str, list[EventRecord]]:
        """The stored events of these contacts, in order, once everything recorded so far is
        stored (``ivr.recovery.ContactHistory``: where a restarted bridge finds its calls)."""
        await self.flush()
        return await asyncio.to_thread(self.service.histories, linkedids)

    async def close(self) -> None:
        """Stop once every recorded event is stored or spooled; the spool stays on disk for
        the next start."""
        await self.persisted()
        for task in (self._worker, self._replayer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._worker = self._replayer = None
        if len(self.spool):
            if self.spool.path is None:
                log.error("contact log closed with %d events not stored (no spool directory)",
                          len(self.spool))
            else:
                log.warning("contact log closed with %d events in the spool %s (replayed at "
                            "the next start)", len(self.spool), self.spool.path)
        self.spool.close()

    def health(self) -> dict[str, Any]:
        return {**self.spool.describe(), "written": self.written, "batches": self.batches,
                "duplicates": self.duplicates, "spooled": self.spooled,
                "dead_lettered": self.failures, "spool_errors": self.spool_errors,
                "head_failures": self.head_failures}

    async def _store(self, event: ContactEvent) -> None:
        if await asyncio.to_thread(self.service.apply, event):
            self.written += 1
        else:
            self.duplicates += 1

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            if self.gather_s > 0 and self._queue.qsize() < self.max_batch - 1:
                await asyncio.sleep(self.gather_s)
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                if len(batch) > 1 and not len(self.spool) and await self._store_batch(batch):
                    continue
                for event in batch:
                    await self._write(event)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _store_batch(self, batch: list[ContactEvent]) -> bool:
        """The events waiting together, in one transaction; False (nothing stored) when it
        fails: each is then stored (or spooled) on its own, in order."""
        try:
            stored = await asyncio.to_thread(self.service.apply_batch, batch)
        except Exception as exc:
            log.debug("a batch of %d contact events failed, stored one by one: %s",
                      len(batch), exc)
            return False
        self.written += sum(stored)
        self.duplicates += len(stored) - sum(stored)
        self.batches += 1
        return True

    async def _write(self, event: ContactEvent) -> None:
        if not len(self.spool):
            try:
                await self._store(event)
                return
            except Exception as exc:
                log.warning("storing %s of %s failed, spooled: %s", event.kind,
                            event.linkedid, exc)
        await self._to_spool(event)

    async def _to_spool(self, event: ContactEvent) -> None:
        async with self._lock:
            try:
                await asyncio.to_thread(self.spool.append, event)
            except OSError:
                # the disk refuses too: keep it in order in memory, the replay goes on
                log.exception("the contact spool %s refused an event of %s; kept in memory",
                              self.spool.path, event.linkedid)
                self.spool_errors += 1
                self.spool.pending.append(event)
        self.spooled += 1
        self._drained.clear()
        self._work.set()

    async def _replay(self) -> None:
        delay = self.backoff_initial
        while True:
            head = self.spool.head()
            if head is None:
                self._drained.set()
                self._work.clear()
                await self._work.wait()
                continue
            try:
                await self._store(head)
            except Exception as exc:
                poison = _is_poison(exc)
                if poison:
                    self.head_failures += 1
                log.warning("replaying %s of %s from the spool failed (%s, %d events "
                            "spooled): %s", head.kind, head.linkedid,
                            "event refused" if poison else "database unavailable",
                            len(self.spool), exc)
                if poison and self.head_failures >= self.max_failures:
                    await self._dead_letter(head, exc)
                    delay = self.backoff_initial
                    continue
                await self._sleep(delay)
                delay = min(self.backoff_max, delay * 2)
                continue
            async with self._lock:
                await asyncio.to_thread(self.spool.pop)
            self.head_failures = 0
            delay = self.backoff_initial

    async def _dead_letter(self, event: ContactEvent, exc: Exception) -> None:
        log.error("contact event %s of linkedid %s refused %d times: moved to the dead-letter "
                  "file %s (%s)", event.kind, event.linkedid, self.head_failures,
                  self.spool.dead_letter_path, exc)
        at = self.clock() if self.clock is not None else event.at
        async with self._lock:
            await asyncio.to_thread(self.spool.dead_letter, event, repr(exc), at)
        self.failures += 1
        self.head_failures = 0
