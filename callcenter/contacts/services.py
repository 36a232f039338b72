"""The contact log: stores the IVR's contact events and derives each contact's outcome.

:class:`ContactService` applies one event in one transaction (a contact row plus a timeline row).
:class:`ContactLog` implements the IVR's ``ContactRecorder``: ``record`` queues the event at once,
one writer task applies the events in order in a worker thread, so call handling never waits on
the database and no event is reordered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from callcenter.contacts.models import Contact, ContactEventRow, Outcome
from callcenter.db import Database
from ivr.ports import ContactEvent, EventKind

log = logging.getLogger(__name__)

FAILURE_REASONS = {"agi_error", "internal_error", "loop_guard", "prompt_failed"}


def derive_outcome(contact: Contact) -> Outcome:
    """The single outcome of an ended contact (see docs/metrics.md)."""
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


class ContactService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def apply(self, event: ContactEvent) -> None:
        with self.db.transaction() as session:
            self._apply(session, event)

    def _apply(self, session: Session, event: ContactEvent) -> None:
        contact = session.scalar(
            select(Contact).where(Contact.linkedid == event.linkedid).with_for_update()
        )
        if contact is None:
            contact = Contact(linkedid=event.linkedid, started_at=event.at, caller_number="",
                              channel="", self_served=False, reconciled=False)
            session.add(contact)
            session.flush()
        data: dict[str, Any] = dict(event.data)
        session.add(ContactEventRow(contact_id=contact.id, at=event.at, kind=str(event.kind),
                                    data=data))
        kind = event.kind
        if kind is EventKind.CALL_STARTED:
            contact.caller_number = str(data.get("caller", ""))[:64]
            contact.channel = str(data.get("channel", ""))[:128]
            contact.started_at = min(contact.started_at, event.at)
        elif kind is EventKind.MENU_NODE:
            contact.last_node = str(data.get("node", ""))[:64]
        elif kind is EventKind.SELF_SERVICE:
            contact.self_served = True
        elif kind is EventKind.TRANSFER:
            contact.queue = str(data.get("queue", ""))[:64] or contact.queue
            contact.ivr_seconds = _seconds(contact.started_at, event.at)
        elif kind is EventKind.QUEUE_JOINED:
            contact.queue = str(data.get("queue", ""))[:64]
            if contact.queue_joined_at is None:
                contact.queue_joined_at = event.at
            if contact.ivr_seconds is None:
                contact.ivr_seconds = _seconds(contact.started_at, event.at)
        elif kind is EventKind.AGENT_CONNECTED:
            contact.agent = str(data.get("agent", ""))[:128]
            contact.queue = str(data.get("queue", "")) or contact.queue
            if contact.agent_connected_at is None:
                contact.agent_connected_at = event.at
            hold = data.get("hold_time")
            contact.queue_wait_seconds = (
                float(hold) if hold and not data.get("resynced")
                else _seconds(contact.queue_joined_at, event.at)
            )
        elif kind is EventKind.AGENT_COMPLETED:
            talk = data.get("talk_time")
            if talk is not None:
                contact.talk_seconds = (contact.talk_seconds or 0.0) + float(talk)
        elif kind is EventKind.QUEUE_ABANDONED:
            hold = data.get("hold_time")
            contact.queue_wait_seconds = (float(hold) if hold is not None
                                          else _seconds(contact.queue_joined_at, event.at))
        elif kind is EventKind.IVR_HANGUP:
            contact.ivr_end_reason = str(data.get("reason", ""))[:64]
            if contact.ended_at is not None:
                # Asterisk ended the call itself (a prompt it could not play ends the
                # AsyncAGI, and the dialplan hangs up): the menu says why just after the
                # hang-up was recorded
                contact.outcome = str(derive_outcome(contact))
        elif kind is EventKind.SURVEY:
            score = data.get("score")
            if isinstance(score, int) and not isinstance(score, bool) and 1 <= score <= 3:
                contact.survey_score = score
        elif kind is EventKind.OUTCOME:
            contact.explicit_outcome = str(Outcome(str(data.get("outcome"))))
        elif kind is EventKind.CALL_ENDED:
            if contact.ended_at is not None:
                return  # a duplicate end (e.g. reconciliation after the real hangup)
            contact.ended_at = event.at
            contact.hangup_cause = int(data.get("cause") or 0)
            contact.hangup_cause_txt = str(data.get("cause_txt", ""))[:128]
            contact.reconciled = bool(data.get("reconciled", False))
            if contact.ivr_seconds is None:
                contact.ivr_seconds = _seconds(contact.started_at, event.at)
            if contact.agent_connected_at is not None and contact.talk_seconds is None:
                contact.talk_seconds = _seconds(contact.agent_connected_at, event.at)
            if (contact.queue_joined_at is not None and contact.agent_connected_at is None
                    and contact.queue_wait_seconds is None):
                contact.queue_wait_seconds = _seconds(contact.queue_joined_at, event.at)
            contact.outcome = str(derive_outcome(contact))

    # -- queries ----------------------------------------------------------------------------

    def open_linkedids(self) -> list[str]:
        with self.db.session() as session:
            return list(session.scalars(select(Contact.linkedid).where(Contact.ended_at.is_(None))))

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
        if self.handled_by is not None:
            query = query.where(Contact.id.in_(handled_by(self.handled_by)))
        if self.linkedid:
            query = query.where(Contact.linkedid == self.linkedid)
        return query


def handled_by(agent: str) -> Select[tuple[int]]:
    """Ids of the contacts ``agent`` was connected to (from the timeline)."""
    return select(ContactEventRow.contact_id).where(
        ContactEventRow.kind == str(EventKind.AGENT_CONNECTED),
        ContactEventRow.data["agent"].as_string() == agent,
    )


class ContactLog:
    """The IVR's ContactRecorder, backed by :class:`ContactService`."""

    def __init__(self, service: ContactService) -> None:
        self.service = service
        self._queue: asyncio.Queue[ContactEvent] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self.failures = 0
        self.written = 0

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._run(),
                                                                  name="contact-log")

    def record(self, event: ContactEvent) -> None:
        self._queue.put_nowait(event)

    async def flush(self) -> None:
        await self._queue.join()

    async def open_contacts(self) -> list[str]:
        await self.flush()
        return await asyncio.to_thread(self.service.open_linkedids)

    async def close(self) -> None:
        await self.flush()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    async def _run(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self._apply_with_retry(event)
            finally:
                self._queue.task_done()

    async def _apply_with_retry(self, event: ContactEvent) -> None:
        delay = 0.05
        for attempt in range(1, 8):
            try:
                await asyncio.to_thread(self.service.apply, event)
                self.written += 1
                return
            except Exception:
                log.exception("storing %s for %s failed (attempt %d)", event.kind,
                              event.linkedid, attempt)
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)
        self.failures += 1
        log.error("contact event lost after retries: %r", event)
