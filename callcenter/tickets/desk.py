"""The agents' side of tickets and callbacks (on top of :mod:`callcenter.tickets.services`):
owner assignment, callback status, lists and the overdue list."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from callcenter.auth.services import audit
from callcenter.db import Database
from callcenter.errors import NotFound
from callcenter.tickets.models import (
    CallbackRequest,
    CallbackStatus,
    Ticket,
    TicketStatus,
    TicketStatusChange,
)
from callcenter.tickets.services import TicketError
from ivr.clock import Clock


class TicketDesk:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def tickets(self, *, status: str | None = None, owner: str | None = None,
                kind: str | None = None, limit: int = 200) -> Sequence[Ticket]:
        query = select(Ticket).order_by(Ticket.due_at).limit(limit)
        if status:
            query = query.where(Ticket.status == status)
        if owner:
            query = query.where(Ticket.owner == owner)
        if kind:
            query = query.where(Ticket.kind == kind)
        with self.db.session() as session:
            return session.scalars(query).all()

    def ticket(self, ticket_no: str) -> Ticket | None:
        with self.db.session() as session:
            return session.scalar(select(Ticket).where(Ticket.ticket_no == ticket_no)
                                  .options(selectinload(Ticket.history)))

    def assign(self, ticket_no: str, owner: str | None, *, by: str,
               expected_owner: str | object | None = ...) -> Ticket:
        """Set (or clear) the owner; recorded in the status history and the audit log. With
        ``expected_owner`` it is refused when the owner changed since the caller checked."""
        with self.db.transaction() as session:
            ticket = session.scalar(select(Ticket).where(Ticket.ticket_no == ticket_no)
                                    .with_for_update())
            if ticket is None:
                raise NotFound(f"工单 {ticket_no} 不存在")
            if expected_owner is not ... and ticket.owner != expected_owner:
                raise TicketError(f"工单 {ticket_no} 的负责人刚刚变更，请刷新后重试")
            if ticket.status == TicketStatus.CLOSED:
                raise TicketError(f"工单 {ticket_no} 已办结，不能再分派")
            previous = ticket.owner
            ticket.owner = owner
            ticket.updated_at = self.clock()
            session.add(TicketStatusChange(ticket_id=ticket.id, at=ticket.updated_at,
                                           from_status=ticket.status, to_status=ticket.status,
                                           by=by, note=f"owner: {previous or '-'} -> "
                                                       f"{owner or '-'}"))
            audit(session, by, "ticket.assign", ticket_no, at=ticket.updated_at, owner=owner,
                  previous=previous)
        result = self.ticket(ticket_no)
        assert result is not None
        return result

    def overdue(self, at: datetime | None = None) -> tuple[Sequence[Ticket],
                                                          Sequence[CallbackRequest]]:
        """Open tickets past their due time and pending callbacks past theirs, oldest first."""
        at = at or self.clock()
        with self.db.session() as session:
            tickets = session.scalars(
                select(Ticket).where(Ticket.status != TicketStatus.CLOSED,
                                     Ticket.status != TicketStatus.ANSWERED,
                                     Ticket.due_at < at).order_by(Ticket.due_at)).all()
            callbacks = session.scalars(
                select(CallbackRequest).where(CallbackRequest.status == CallbackStatus.PENDING,
                                              CallbackRequest.due_at < at)
                .order_by(CallbackRequest.due_at)).all()
        return tickets, callbacks

    def callbacks(self, status: str | None = None, limit: int = 200
                  ) -> Sequence[CallbackRequest]:
        query = select(CallbackRequest).order_by(CallbackRequest.due_at).limit(limit)
        if status:
            query = query.where(CallbackRequest.status == status)
        with self.db.session() as session:
            return session.scalars(query).all()

    def callback(self, callback_id: int) -> CallbackRequest | None:
        with self.db.session() as session:
            return session.get(CallbackRequest, callback_id)

    def update_callback(self, callback_id: int, *, by: str, status: str | None = None,
                        owner: str | None = None, expected_owner: str | object | None = ...
                        ) -> CallbackRequest:
        """Change status and/or owner (``""``: nobody). With ``expected_owner`` the change
        is refused (409) when the owner changed since the caller checked it."""
        with self.db.transaction() as session:
            request = session.get(CallbackRequest, callback_id, with_for_update=True)
            if request is None:
                raise NotFound(f"回电请求 {callback_id} 不存在")
            if expected_owner is not ... and request.owner != expected_owner:
                raise TicketError(f"回电请求 {callback_id} 的负责人刚刚变更，请刷新后重试")
            if status is not None:
                new = CallbackStatus(status)
                if request.status != CallbackStatus.PENDING:
                    raise TicketError(f"回电请求 {callback_id} 已是「{request.status}」，不能再改")
                request.status = str(new)
                if new is not CallbackStatus.PENDING:
                    request.done_at = self.clock()
            if owner is not None:
                request.owner = owner or None
            audit(session, by, "callback.update", str(callback_id), at=self.clock(),
                  status=status, owner=owner)
            session.flush()
            return request
