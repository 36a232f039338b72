"""What the statistics need from other packages' tables, as small interfaces. The packages own
their queries (``callcenter/<package>/reporting.py``); the statistics read only the contact
log's rollups and timeline themselves."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement

from callcenter.agents.reporting import AgentStateSpan
from callcenter.contacts.reporting import OpenContacts
from callcenter.quality.reporting import ReviewFact
from callcenter.sms.reporting import DeliveryCount
from callcenter.tickets.reporting import TicketFact


class AgentActivitySource(Protocol):
    """Agent state history (the agents package): spans overlapping [start, end)."""

    def spans(self, start: datetime, end: datetime) -> Sequence[AgentStateSpan]: ...


class NoAgentActivity:
    def spans(self, start: datetime, end: datetime) -> Sequence[AgentStateSpan]:
        return []


class TicketSource(Protocol):
    """Tickets created in [start, end) (the tickets package)."""

    def tickets(self, start: datetime, end: datetime) -> Sequence[TicketFact]: ...


class ContactSource(Protocol):
    """The contact log beyond the rollups (the contacts package)."""

    def open_contacts(self, since: datetime) -> OpenContacts: ...

    def contact_rows(self, start: datetime, end: datetime, medium: str | None = None
                     ) -> Iterator[Sequence[Any]]: ...


class SmsSource(Protocol):
    """Texts sent and their delivery (the sms package): counts per ``key(sent at)``."""

    def deliveries(self, start: datetime, end: datetime,
                   key: Callable[[Any], ColumnElement[int]]) -> Sequence[DeliveryCount]: ...


class QualitySource(Protocol):
    """Quality reviews of the calls started in [start, end) (the quality package)."""

    def reviews(self, start: datetime, end: datetime) -> Sequence[ReviewFact]: ...
