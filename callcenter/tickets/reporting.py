"""What the statistics read from this package's tables: tickets created in a range, when each
was first settled and the channel of the contact it came from, through
:class:`callcenter.stats.sources.TicketSource`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from callcenter.contacts.models import Contact
from callcenter.db import Database, UtcDateTime
from callcenter.tickets.models import Ticket, TicketStatusChange


@dataclass(frozen=True)
class TicketFact:
    type: str
    created_at: datetime
    due_at: datetime | None
    closed_at: datetime | None  # first reached ``answered`` or ``closed``
    channel: str = "phone"      # the medium of the contact it came from (phone without one)


class TicketTableSource:
    """Tickets from ``tickets``: settled = first reached ``answered`` or ``closed``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def tickets(self, start: datetime, end: datetime) -> Sequence[TicketFact]:
        settled = (select(TicketStatusChange.ticket_id,
                          func.min(TicketStatusChange.at, type_=UtcDateTime).label("at"))
                   .where(TicketStatusChange.to_status.in_(("answered", "closed")))
                   .group_by(TicketStatusChange.ticket_id).subquery())
        with self.db.session() as session:
            rows = session.execute(
                select(Ticket.kind, Ticket.created_at, Ticket.due_at, settled.c.at,
                       func.coalesce(Contact.medium, "phone"))
                .outerjoin(settled, settled.c.ticket_id == Ticket.id)
                .outerjoin(Contact, Contact.linkedid == Ticket.linkedid)
                .where(Ticket.created_at >= start, Ticket.created_at < end)
            ).all()
        return [TicketFact(str(k), created, due, at, str(medium))
                for k, created, due, at, medium in rows]
