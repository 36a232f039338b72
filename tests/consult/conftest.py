"""Fixtures of the consultation tests: the service over a real database (SQLite and
PostgreSQL), a recording SMS gateway, a stub knowledge base and the suite's clock, movable."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import delete

from callcenter.auth.models import AuditEntry
from callcenter.consult.models import ConsultCode, ConsultReply, ConsultSession
from callcenter.consult.services import ConsultPolicy, ConsultService
from callcenter.contacts.models import Contact, ContactEventRow
from callcenter.db import Database
from callcenter.sms.models import SmsDeliveryReport, SmsMessage
from callcenter.sms.services import SmsService
from callcenter.sms.throttle import Limits
from callcenter.tickets.models import Ticket, TicketStatusChange
from callcenter.tickets.services import TicketService
from tests.sms.fakes import SentTexts
from tests.sms.test_sms_gateway import ShiftedClock as MovableClock
from tests.sms.test_sms_services import CALENDAR, StubKb


@dataclass
class Consult:
    service: ConsultService
    sms: SmsService
    kb: StubKb
    gateway: SentTexts
    clock: MovableClock
    db: Database

    def last_code(self, number: str) -> str:
        """The code of the last text the gateway took for ``number``."""
        text = [t for n, t, _i in self.gateway.sent if n == number][-1]
        return text.split("验证码为", 1)[1][:6]


def clean(db: Database) -> None:
    with db.transaction() as session:
        for table in (AuditEntry, ConsultReply, ConsultSession, ConsultCode, SmsDeliveryReport,
                      SmsMessage, ContactEventRow, Contact, TicketStatusChange, Ticket):
            session.execute(delete(table))


@pytest.fixture
def consult(database: Database) -> Consult:
    clean(database)
    clock, kb, gateway = MovableClock(), StubKb(), SentTexts()
    tickets = TicketService(database, CALENDAR, {"consult": 3, "complaint": 5}, clock=clock)
    sms = SmsService(database, clock, kb=kb, tickets=tickets, sender=gateway,
                     limits=Limits(per_number_minute=5))
    service = ConsultService(database, clock, sms=sms, tickets=tickets, kb=kb,
                             policy=ConsultPolicy())
    return Consult(service, sms, kb, gateway, clock, database)
