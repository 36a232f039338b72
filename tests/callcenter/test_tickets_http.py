"""Tickets and callbacks over HTTP: creation from the console, owners, status history,
refused transitions and the overdue list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, update

from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.tickets.models import CallbackRequest, Ticket, TicketStatusChange
from ivr.ports import ContactEvent, EventKind
from tests.support import SUITE_CLOCK

H = dict[str, dict[str, str]]


@pytest.fixture
def tickets(clean_users: Database, contacts: ContactService) -> Database:
    with clean_users.transaction() as session:
        for table in (TicketStatusChange, Ticket, CallbackRequest):
            session.execute(delete(table))
    for linkedid in ("L-t1", "L-c1"):  # the calls the work items come from
        contacts.apply(ContactEvent.parse(linkedid, EventKind.CALL_STARTED,
                                    {"caller": "13800003333", "channel": "PJSIP/x"},
                                    at=SUITE_CLOCK()))
    return clean_users


def test_ticket_lifecycle(client: TestClient, headers: H, tickets: Database) -> None:
    created = client.post("/api/v1/tickets", json={
        "kind": "complaint", "caller": "13800003333", "linkedid": "L-t1",
        "summary": "办税服务厅排队时间过长"}, headers=headers["agent"])
    assert created.status_code == 201, created.text
    ticket = created.json()
    number = ticket["ticket_no"]
    assert ticket["status"] == "open"
    assert ticket["owner"] is None
    assert ticket["history"][0]["by"] == "agent1"
    # an agent takes an unowned ticket; cannot hand it to someone else
    assert client.post(f"/api/v1/tickets/{number}/owner", json={"owner": "expert1"},
                       headers=headers["agent"]).status_code == 403
    taken = client.post(f"/api/v1/tickets/{number}/owner", json={"owner": "agent1"},
                        headers=headers["agent"])
    assert taken.json()["owner"] == "agent1"
    # only the owner (or a supervisor) works on it
    assert client.post(f"/api/v1/tickets/{number}/status", json={"status": "in_progress"},
                       headers=headers["expert"]).status_code == 403
    moved = client.post(f"/api/v1/tickets/{number}/status",
                        json={"status": "in_progress", "note": "已联系办税服务厅"},
                        headers=headers["agent"])
    assert moved.status_code == 200
    closed = client.post(f"/api/v1/tickets/{number}/status", json={"status": "closed"},
                         headers=headers["supervisor"])
    assert closed.status_code == 200
    history = [(h["from_status"], h["to_status"], h["by"]) for h in closed.json()["history"]]
    assert history == [(None, "open", "agent1"), ("open", "open", "agent1"),
                       ("open", "in_progress", "agent1"), ("in_progress", "closed", "sup1")]
    # a closed ticket stays closed
    again = client.post(f"/api/v1/tickets/{number}/status", json={"status": "open"},
                        headers=headers["supervisor"])
    assert again.status_code == 409
    assert client.post(f"/api/v1/tickets/{number}/owner", json={"owner": "agent1"},
                       headers=headers["supervisor"]).status_code == 409
    assert client.get("/api/v1/tickets/nope", headers=headers["agent"]).status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "praise", "caller": "13800003333"}, "kind"),
    ({"kind": "complaint", "caller": "call me"}, "caller"),
    ({"kind": "complaint"}, "caller"),
    ({"kind": "complaint", "caller": "1380", "extra": 1}, "extra"),
])
def test_bad_ticket_payloads_are_422(client: TestClient, headers: H, tickets: Database,
                                     body: object, field: str) -> None:
    response = client.post("/api/v1/tickets", json=body, headers=headers["agent"])
    assert response.status_code == 422
    assert field in response.json()["detail"]


def test_callbacks_and_the_overdue_list(client: TestClient, headers: H,
                                        tickets: Database) -> None:
    assert client.get("/api/v1/tickets/overdue").status_code == 401
    callback = client.post("/api/v1/callbacks", json={"number": "13800004444",
                                                       "linkedid": "L-c1"},
                           headers=headers["agent"])
    assert callback.status_code == 201, callback.text
    assert client.post("/api/v1/callbacks", json={"number": "abc"},
                       headers=headers["agent"]).status_code == 422
    ticket = client.post("/api/v1/tickets", json={"kind": "report", "caller": "13800005555"},
                         headers=headers["agent"]).json()
    assert client.get("/api/v1/tickets/overdue", headers=headers["agent"]).json() == {
        "tickets": [], "callbacks": []}
    past = SUITE_CLOCK() - timedelta(hours=1)
    with tickets.transaction() as session:
        session.execute(update(CallbackRequest).values(due_at=past))
        session.execute(update(Ticket).values(due_at=past))
    overdue = client.get("/api/v1/tickets/overdue", headers=headers["supervisor"]).json()
    assert [t["ticket_no"] for t in overdue["tickets"]] == [ticket["ticket_no"]]
    assert [c["number"] for c in overdue["callbacks"]] == ["13800004444"]
    done = client.post(f"/api/v1/callbacks/{callback.json()['id']}", json={"status": "done"},
                       headers=headers["agent"])
    assert done.status_code == 200
    assert done.json()["done_at"] is not None
    assert client.post(f"/api/v1/callbacks/{callback.json()['id']}",
                       json={"status": "failed"}, headers=headers["agent"]).status_code == 409
    assert client.post("/api/v1/callbacks/999999", json={"status": "done"},
                       headers=headers["agent"]).status_code == 404
    assert client.get("/api/v1/tickets/overdue", headers=headers["agent"]).json()[
        "callbacks"] == []
