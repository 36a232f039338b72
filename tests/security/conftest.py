"""Fixtures of the hostile-input suite: the call-center app on the test database (SQLite and
PostgreSQL), users of every role, and a contact to hang work items on."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import delete

from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.tickets.models import CallbackRequest, Ticket, TicketStatusChange
from ivr.ports import ContactEvent, EventKind
from tests.callcenter.conftest import (  # the same app and users as the call-center tests
    _light_password_hashing,
    clean_users,
    client,
    headers,
)
from tests.support import SUITE_CLOCK

__all__ = ["_light_password_hashing", "clean_users", "client", "headers"]

H = dict[str, dict[str, str]]
MakeCall = Callable[..., str]


@pytest.fixture
def work(clean_users: Database) -> Database:
    """No tickets or callbacks yet."""
    with clean_users.transaction() as session:
        for table in (TicketStatusChange, Ticket, CallbackRequest):
            session.execute(delete(table))
    return clean_users


@pytest.fixture
def make_call(contacts: ContactService) -> MakeCall:
    """``make_call(linkedid, caller=..., agents=[...])``: a call that happened (a contact with
    its timeline), connected to ``agents`` in turn."""

    def make(linkedid: str, caller: str = "13800001111", agents: tuple[str, ...] = ()) -> str:
        at = SUITE_CLOCK()
        contacts.apply(ContactEvent.parse(linkedid, EventKind.CALL_STARTED,
                                    {"caller": caller, "channel": "PJSIP/x"}, at=at))
        for agent in agents:
            contacts.apply(ContactEvent.parse(linkedid, EventKind.AGENT_CONNECTED,
                                        {"agent": agent, "queue": "consult"}, at=at))
        return linkedid

    return make
