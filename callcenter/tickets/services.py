"""Tickets and callback requests: created by the IVR, worked on by agents.

The due time of a ticket follows the service commitment: ``commitments[kind]`` working days
(of the service calendar) after the day it was created, at closing time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from callcenter.db import Database
from callcenter.errors import DomainError
from callcenter.recordings.models import Recording
from callcenter.tickets.models import (
    TICKET_TRANSITIONS,
    CallbackRequest,
    CallbackStatus,
    Ticket,
    TicketKind,
    TicketStatus,
    TicketStatusChange,
)
from ivr.calendar import ServiceCalendar
from ivr.clock import Clock
from ivr.ports import CallbackConfirmation, TicketConfirmation

DEFAULT_COMMITMENTS: Mapping[str, int] = {"complaint": 5, "report": 15, "director": 5,
                                          "consult": 3}


class TicketError(DomainError, ValueError):
    """A request on a ticket that cannot be honoured (unknown ticket, bad transition); 409."""


class TicketService:
    def __init__(self, db: Database, calendar: ServiceCalendar,
                 commitments: Mapping[str, int] = DEFAULT_COMMITMENTS,
                 callback_due_hours: float = 4.0, *, clock: Clock) -> None:
        self.db = db
        self.calendar = calendar
        self.commitments = dict(commitments)
        self.callback_due = timedelta(hours=callback_due_hours)
        self.clock = clock

    def due_at(self, kind: str, created: datetime) -> datetime:
        """Closing time of the ``commitments[kind]``-th working day after ``created``."""
        days = self.commitments.get(kind)
        if days is None:
            raise TicketError(f"no service commitment for ticket kind {kind!r}")
        local = self.calendar.local(created)
        day = local.date()
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if self.calendar.is_working_day(day):
                counted += 1
        close = self.calendar.main_hours.close
        return datetime.combine(day, close, tzinfo=local.tzinfo).astimezone(UTC)

    def create(self, kind: str, caller: str, linkedid: str, recording_path: str | None,
               summary: str = "", by: str = "ivr") -> Ticket:
        kind = str(TicketKind(kind))
        now = self.clock()
        due = self.due_at(kind, now)
        prefix = self.calendar.local(now).strftime("%Y%m%d")
        for _ in range(5):
            try:
                with self.db.transaction() as session:
                    count = session.scalar(select(func.count()).select_from(Ticket)
                                           .where(Ticket.ticket_no.like(f"{prefix}%"))) or 0
                    ticket = Ticket(ticket_no=f"{prefix}{count + 1:04d}", kind=kind,
                                    status=TicketStatus.OPEN, caller=caller[:64],
                                    linkedid=linkedid[:64], recording_path=recording_path,
                                    summary=summary, owner=None, created_at=now, due_at=due,
                                    updated_at=now)
                    ticket.history.append(TicketStatusChange(
                        at=now, from_status=None, to_status=TicketStatus.OPEN, by=by,
                        note="created"))
                    session.add(ticket)
                    if recording_path:
                        # the voice message joins the recordings store's listing (it lies
                        # at the top of the store: ivr/services IvrServices.recording)
                        session.add(Recording(linkedid=linkedid[:64], kind=kind,
                                              path=Path(recording_path).name, started_at=now))
                return ticket
            except IntegrityError:
                continue  # two tickets drew the same number at once: count again
        raise RuntimeError("could not allocate a ticket number")

    def get(self, ticket_no: str) -> Ticket | None:
        with self.db.session() as session:
            return session.scalar(select(Ticket).where(Ticket.ticket_no == ticket_no)
                                  .options(selectinload(Ticket.history)))

    def change_status(self, ticket_no: str, status: str, by: str, note: str = "",
                      owner: str | None = None) -> Ticket:
        try:
            new = TicketStatus(status)
        except ValueError as exc:
            raise TicketError(f"unknown status {status!r}") from exc
        now = self.clock()
        with self.db.transaction() as session:
            ticket = session.scalar(select(Ticket).where(Ticket.ticket_no == ticket_no)
                                    .with_for_update())
            if ticket is None:
                raise TicketError(f"no ticket {ticket_no}")
            if new not in TICKET_TRANSITIONS[ticket.status]:
                raise TicketError(f"ticket {ticket_no} cannot go from {ticket.status} to {new}")
            session.add(TicketStatusChange(ticket_id=ticket.id, at=now,
                                           from_status=ticket.status, to_status=new, by=by,
                                           note=note))
            ticket.status = str(new)
            ticket.updated_at = now
            if owner is not None:
                ticket.owner = owner
        result = self.get(ticket_no)
        assert result is not None
        return result

    def request_callback(self, number: str, linkedid: str, reason: str) -> CallbackRequest:
        if not number.isdigit() or not 3 <= len(number) <= 32:
            raise TicketError("a callback number is 3-32 digits", status=422)
        now = self.clock()
        with self.db.transaction() as session:
            request = CallbackRequest(number=number, linkedid=linkedid[:64], reason=reason[:64],
                                      status=CallbackStatus.PENDING, created_at=now,
                                      due_at=now + self.callback_due)
            session.add(request)
        return request

    def pending_callbacks(self) -> list[CallbackRequest]:
        with self.db.session() as session:
            return list(session.scalars(
                select(CallbackRequest).where(CallbackRequest.status == CallbackStatus.PENDING)
                .order_by(CallbackRequest.due_at)))


class IvrTicketDesk:
    """``ivr.ports.TicketDesk`` over :class:`TicketService`."""

    def __init__(self, service: TicketService) -> None:
        self.service = service

    async def create_ticket(self, kind: str, caller: str, linkedid: str,
                            recording_path: str | None, summary: str = ""
                            ) -> TicketConfirmation:
        ticket = await asyncio.to_thread(self.service.create, kind, caller, linkedid,
                                         recording_path, summary)
        return TicketConfirmation(ticket.ticket_no, ticket.due_at)

    async def request_callback(self, number: str, linkedid: str, reason: str
                               ) -> CallbackConfirmation:
        request = await asyncio.to_thread(self.service.request_callback, number, linkedid,
                                          reason)
        return CallbackConfirmation(request.id, request.number, request.due_at)
