"""The authorisation matrix: every route of the app x every role (and no login).

The routes come from the app itself (``callcenter.openapi.operations``): a route added
without an entry in MATRIX fails ``test_every_route_has_an_entry``. Each entry says who may
use the route; the probe request of each route is sent as each role and must give 401 (no
login), 403 (a role not in the entry) or anything but 401/403 (a role in it). Where access
also depends on ownership ("own calls", "own or unowned" work), the probe uses an item that
belongs to nobody of the test roles (an unowned ticket, a call nobody handled).

Who may use a route does not depend on the date or the hour, so the matrix runs at today's
moment of the suite's clock only (``clock_independent``, tests/plugins/scope.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from callcenter.app import create_app
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.openapi import operations
from callcenter.settings import Settings
from ivr.ports import ContactEvent, EventKind
from tests.callcenter.util import PASSWORD
from tests.security.conftest import H
from tests.support import SUITE_CLOCK

EVERYONE = frozenset({"agent", "expert", "supervisor", "admin"})
STAFF = frozenset({"agent", "expert"})
BOSSES = frozenset({"supervisor", "admin"})
ADMIN = frozenset({"admin"})
OPEN = "open"  # no login needed
# the consultation page's session (a number verified by an SMS code), not a staff login:
# 401 for everyone without one, staff included
TAXPAYER = "taxpayer"

pytestmark = pytest.mark.clock_independent


@dataclass(frozen=True)
class Entry:
    allowed: frozenset[str] | str
    path: str = ""  # the probe's path (the route's own when empty)
    body: Any = None
    params: dict[str, str] = field(default_factory=dict)


DAY = {"from": "2026-11-27", "to": "2026-11-27"}
MATRIX: dict[tuple[str, str], Entry] = {
    ("GET", "/openapi.json"): Entry(OPEN),
    ("GET", "/docs"): Entry(OPEN),
    ("GET", "/docs/oauth2-redirect"): Entry(OPEN),
    ("GET", "/redoc"): Entry(OPEN),
    ("GET", "/"): Entry(OPEN),
    ("GET", "/console"): Entry(OPEN),
    ("GET", "/console/static/{name}"): Entry(OPEN, "/console/static/console.js"),
    ("GET", "/stats/dashboard"): Entry(OPEN),
    ("GET", "/stats/wallboard"): Entry(OPEN),
    ("GET", "/stats/static/{name}"): Entry(OPEN, "/stats/static/stats.js"),
    ("GET", "/api/v1/health"): Entry(OPEN),
    ("POST", "/api/v1/auth/login"): Entry(OPEN, body={"username": "agent1",
                                                      "password": PASSWORD}),
    ("POST", "/api/v1/auth/logout"): Entry(EVERYONE),
    ("GET", "/api/v1/auth/me"): Entry(EVERYONE),
    ("GET", "/api/v1/users"): Entry(ADMIN),
    ("POST", "/api/v1/users"): Entry(ADMIN, body={
        "username": "matrix-new", "password": "matrix-secret-1", "role": "agent"}),
    ("PATCH", "/api/v1/users/{username}"): Entry(ADMIN, "/api/v1/users/agent1",
                                                  body={"display_name": "坐席一"}),
    ("GET", "/api/v1/audit"): Entry(ADMIN),
    ("GET", "/api/v1/contacts"): Entry(EVERYONE),  # agents: own calls only (scoped)
    ("POST", "/api/v1/contacts/search"): Entry(EVERYONE, body={}),
    # a call the agent and the expert handled (an agent may open only their own calls)
    ("GET", "/api/v1/contacts/{contact_id}"): Entry(EVERYONE, "/api/v1/contacts/{contact}"),
    ("GET", "/api/v1/contacts/{contact_id}/recordings"): Entry(
        EVERYONE, "/api/v1/contacts/{contact}/recordings"),
    # agents and experts: own calls, and only with HOTLINE_RECORDINGS_AGENTS_OWN (off here)
    ("GET", "/api/v1/recordings/{recording_id}/audio"): Entry(BOSSES,
                                                              "/api/v1/recordings/1/audio"),
    ("GET", "/api/v1/kb/search"): Entry(EVERYONE, params={"q": "发票"}),
    # knowledge operations: editors, reviewers (not probed here), supervisors and admins;
    # without the knowledge base in this app the allowed roles get 503 (tests/callcenter/
    # test_kb_ops.py has the editors and reviewers)
    ("GET", "/api/v1/kb/entries"): Entry(BOSSES),
    ("GET", "/api/v1/kb/entries/{entry_id}"): Entry(BOSSES, "/api/v1/kb/entries/a.b"),
    ("GET", "/api/v1/kb/entries/{entry_id}/versions"): Entry(
        BOSSES, "/api/v1/kb/entries/a.b/versions"),
    ("POST", "/api/v1/kb/entries/{entry_id}/versions/{version}/restore"): Entry(
        BOSSES, "/api/v1/kb/entries/a.b/versions/1/restore"),
    ("GET", "/api/v1/kb/drafts"): Entry(BOSSES),
    ("POST", "/api/v1/kb/drafts"): Entry(BOSSES, body={"entry_id": "a.b", "fields": {}}),
    ("PUT", "/api/v1/kb/drafts/{draft_id}"): Entry(BOSSES, "/api/v1/kb/drafts/1",
                                                   body={"fields": {}}),
    ("POST", "/api/v1/kb/drafts/{draft_id}/discard"): Entry(BOSSES, "/api/v1/kb/drafts/1/discard"),
    ("POST", "/api/v1/kb/drafts/{draft_id}/publish"): Entry(BOSSES, "/api/v1/kb/drafts/1/publish"),
    ("GET", "/api/v1/kb/unanswered"): Entry(BOSSES),
    ("POST", "/api/v1/kb/unanswered/draft"): Entry(BOSSES, body={"questions": ["发票"]}),
    ("GET", "/api/v1/stats/summary"): Entry(BOSSES, params=DAY),
    ("GET", "/api/v1/stats/queues"): Entry(BOSSES, params=DAY),
    ("GET", "/api/v1/stats/agents"): Entry(BOSSES, params=DAY),
    ("GET", "/api/v1/stats/nodes"): Entry(BOSSES, params=DAY),
    ("GET", "/api/v1/stats/faqs"): Entry(BOSSES, params=DAY),
    ("GET", "/api/v1/stats/tickets"): Entry(BOSSES, params=DAY),
    ("GET", "/api/v1/stats/channels"): Entry(BOSSES, params=DAY),
    ("GET", "/api/v1/stats/quality"): Entry(BOSSES, params=DAY),
    ("GET", "/api/v1/stats/live"): Entry(BOSSES),
    ("GET", "/api/v1/stats/export"): Entry(BOSSES, params=DAY),
    ("GET", "/api/v1/agents/me"): Entry(STAFF),
    ("POST", "/api/v1/agents/me/state"): Entry(STAFF, body={"state": "logged_out"}),
    ("POST", "/api/v1/agents/me/transfer"): Entry(STAFF, body={"queue": "experts"}),
    ("POST", "/api/v1/agents/me/hold"): Entry(STAFF),
    ("POST", "/api/v1/agents/me/resume"): Entry(STAFF),
    ("POST", "/api/v1/agents/me/consult"): Entry(STAFF, body={}),
    ("POST", "/api/v1/agents/me/consult/{action}"): Entry(
        STAFF, "/api/v1/agents/me/consult/cancel"),
    ("POST", "/api/v1/agents/{username}/monitor"): Entry(
        BOSSES, "/api/v1/agents/agent1/monitor", body={"mode": "listen"}),
    ("GET", "/api/v1/agents/board"): Entry(BOSSES),
    ("GET", "/api/v1/agents/ready"): Entry(STAFF),
    ("POST", "/api/v1/agents/{username}/state"): Entry(
        BOSSES, "/api/v1/agents/agent1/state", body={"state": "logged_out"}),
    # agents: only calls they handled; the probe's call was handled by nobody
    ("PUT", "/api/v1/calls/{linkedid}/note"): Entry(frozenset(), "/api/v1/calls/L-none/note",
                                                     body={"notes": "x"}),
    ("GET", "/api/v1/calls/{linkedid}/notes"): Entry(BOSSES, "/api/v1/calls/L-none/notes"),
    ("GET", "/api/v1/desk/lookups"): Entry(EVERYONE),
    ("GET", "/api/v1/queues"): Entry(EVERYONE),
    ("PUT", "/api/v1/queues/{name}"): Entry(ADMIN, "/api/v1/queues/consult",
                                            body={"title": "综合咨询", "skill": "general"}),
    ("POST", "/api/v1/queues/push"): Entry(ADMIN),
    ("GET", "/api/v1/skills"): Entry(EVERYONE),
    ("PUT", "/api/v1/skills/{name}"): Entry(ADMIN, "/api/v1/skills/vat",
                                            body={"title": "增值税"}),
    # agents and experts: their own only; the probe asks for the supervisor's
    ("GET", "/api/v1/agents/{username}/skills"): Entry(BOSSES, "/api/v1/agents/sup1/skills"),
    ("PUT", "/api/v1/agents/{username}/skills"): Entry(ADMIN, "/api/v1/agents/agent1/skills",
                                                       body={"skills": {"general": 0}}),
    ("PUT", "/api/v1/pause-reasons/{code}"): Entry(ADMIN, "/api/v1/pause-reasons/meal",
                                                   body={"title": "用餐"}),
    ("PUT", "/api/v1/dispositions/{code}"): Entry(ADMIN, "/api/v1/dispositions/solved",
                                                  body={"title": "已解决"}),
    ("GET", "/api/v1/quality/forms"): Entry(BOSSES),
    ("PUT", "/api/v1/quality/forms/{name}"): Entry(ADMIN, "/api/v1/quality/forms/standard", body={
        "title": "标准", "criteria": [{"key": "greeting", "title": "开场问候", "max_score": 10,
                                       "weight": 1}]}),
    # reviewing: bosses (the probe's call has no recording: 409 for them); reading: agents
    # and experts their own calls' reviews only (the list is scoped, a review of nobody's: 404;
    # an id no test makes: the worker's database may hold another test's review 1)
    ("POST", "/api/v1/quality/reviews"): Entry(BOSSES, body={
        "contact_id": 1, "agent": "agent1", "form_id": 1, "scores": {}}),
    ("PUT", "/api/v1/quality/reviews/{review_id}"): Entry(
        BOSSES, "/api/v1/quality/reviews/999999", body={"scores": {}}),
    ("GET", "/api/v1/quality/reviews"): Entry(EVERYONE),
    ("GET", "/api/v1/quality/reviews/{review_id}"): Entry(
        EVERYONE, "/api/v1/quality/reviews/999999"),
    ("POST", "/api/v1/quality/reviews/{review_id}/ack"): Entry(
        EVERYONE, "/api/v1/quality/reviews/999999/ack"),
    ("WEBSOCKET", "/api/v1/ws"): Entry(EVERYONE),
    ("GET", "/api/v1/tickets"): Entry(EVERYONE),
    ("GET", "/api/v1/tickets/overdue"): Entry(EVERYONE),
    ("GET", "/api/v1/tickets/{ticket_no}"): Entry(EVERYONE, "/api/v1/tickets/T-none"),
    ("POST", "/api/v1/tickets"): Entry(EVERYONE, body={"kind": "complaint",
                                                       "caller": "13800000000"}),
    # an unowned ticket: anyone may work on it; assigning it to someone else: bosses
    ("POST", "/api/v1/tickets/{ticket_no}/status"): Entry(
        EVERYONE, "/api/v1/tickets/{ticket}/status", body={"status": "in_progress"}),
    ("POST", "/api/v1/tickets/{ticket_no}/owner"): Entry(
        BOSSES, "/api/v1/tickets/{ticket}/owner", body={"owner": "sup1"}),
    # notices to staff by text: supervisors and admins (a user unknown: 422, no text sent)
    ("POST", "/api/v1/notices"): Entry(BOSSES, body={"text": "通知", "audience": "users",
                                                     "usernames": ["nobody-here"]}),
    ("GET", "/api/v1/notices"): Entry(BOSSES),
    ("GET", "/api/v1/notices/{notice_id}"): Entry(BOSSES, "/api/v1/notices/999999"),
    # smsbox's calls: no login, the gateway key (a wrong key: 403 for everyone)
    ("GET", "/api/v1/sms/kannel/mo"): Entry(OPEN, params={
        "key": "hotline-sms-key", "from": "13800138000", "to": "12366", "text": "TD"}),
    ("GET", "/api/v1/sms/kannel/dlr"): Entry(OPEN, params={
        "key": "hotline-sms-key", "id": "1", "type": "8"}),
    # online consultation: the taxpayers' page (no login; a bad number is refused before any
    # text goes) and its session-scoped calls; the console's view and reply (a report
    # ticket: 409 for every staff role, who may call it)
    ("GET", "/consult"): Entry(OPEN),
    ("GET", "/consult/static/{name}"): Entry(OPEN, "/consult/static/consult.js"),
    ("POST", "/api/v1/consult/code"): Entry(OPEN, body={"phone": "12345"}),
    ("POST", "/api/v1/consult/session"): Entry(OPEN, body={"phone": "13800138000",
                                                           "code": "123456"}),
    ("DELETE", "/api/v1/consult/session"): Entry(OPEN),
    ("GET", "/api/v1/consult/session"): Entry(TAXPAYER),
    ("GET", "/api/v1/consult/suggest"): Entry(TAXPAYER, params={"q": "个税汇算"}),
    ("GET", "/api/v1/consult/questions"): Entry(TAXPAYER),
    ("POST", "/api/v1/consult/questions"): Entry(TAXPAYER, body={"question": "个税汇算"}),
    ("GET", "/api/v1/consultations/{ticket_no}"): Entry(
        EVERYONE, "/api/v1/consultations/{ticket}"),
    ("POST", "/api/v1/consultations/{ticket_no}/reply"): Entry(
        EVERYONE, "/api/v1/consultations/{ticket}/reply", body={"text": "答复"}),
    ("GET", "/api/v1/callbacks"): Entry(EVERYONE),
    ("POST", "/api/v1/callbacks"): Entry(EVERYONE, body={"number": "13800000000"}),
    ("POST", "/api/v1/callbacks/{callback_id}"): Entry(
        BOSSES, "/api/v1/callbacks/{callback}", body={"owner": "sup1"}),
    # outbound callbacks: the preview's buttons are the agents' (409: not offered to them),
    # the verdict anyone's who reached it (409 here), dial-now the supervisors'
    ("POST", "/api/v1/callbacks/{callback_id}/accept"): Entry(
        STAFF, "/api/v1/callbacks/{callback}/accept"),
    ("POST", "/api/v1/callbacks/{callback_id}/skip"): Entry(
        STAFF, "/api/v1/callbacks/{callback}/skip"),
    ("POST", "/api/v1/callbacks/{callback_id}/result"): Entry(
        EVERYONE, "/api/v1/callbacks/{callback}/result", body={"result": "wrong_number"}),
    ("POST", "/api/v1/callbacks/{callback_id}/dial"): Entry(
        BOSSES, "/api/v1/callbacks/{callback}/dial", body={"agent": "agent1"}),
    ("GET", "/api/v1/stats/outbound"): Entry(BOSSES, params=DAY),
}


def app_operations() -> set[tuple[str, str]]:
    app = create_app(Settings(ami_enabled=False, kb_enabled=False), SUITE_CLOCK)
    return {(op.method, op.path) for op in operations(app) if op.method != "HEAD"}


def test_every_route_has_an_entry() -> None:
    routes = app_operations()
    missing = sorted(routes - set(MATRIX))
    assert not missing, f"routes without an authorisation entry: {missing}"
    stale = sorted(set(MATRIX) - routes)
    assert not stale, f"entries of routes that do not exist: {stale}"


def _probe(client: TestClient, method: str, entry: Entry, path: str,
           headers: dict[str, str]) -> int:
    if method == "WEBSOCKET":
        try:
            with client.websocket_connect(path, headers=headers) as ws:
                ws.receive_json()
        except WebSocketDisconnect as closed:
            return {4401: 401, 4403: 403}.get(closed.code, 200)
        return 200
    response = client.request(method, path, headers=headers, params=entry.params or None,
                              json=entry.body)
    return int(response.status_code)


def handled_contact(db: Database, *agents: str) -> int:
    """The id of a new ended call that ``agents`` were connected to."""
    service = ContactService(db)
    linkedid = f"matrix-{uuid.uuid4().hex[:12]}"
    at = SUITE_CLOCK()
    connected: list[tuple[EventKind, dict[str, object]]] = [
        (EventKind.AGENT_CONNECTED, {"queue": "consult", "agent": a}) for a in agents]
    steps: list[tuple[EventKind, dict[str, object]]] = [
        (EventKind.CALL_STARTED, {"caller": "13800000001"}), *connected,
        (EventKind.CALL_ENDED, {"cause": 16})]
    for kind, data in steps:
        service.apply(ContactEvent.parse(linkedid, kind, data, at=at))
    contact = service.get_by_linkedid(linkedid)
    assert contact is not None
    return contact.id


@pytest.fixture(scope="module")
def matrix_app(db_url: str) -> Iterator[TestClient]:
    """One app for the whole matrix on each database (its users and their logins are rows,
    made again for each route by ``headers``): an app per route cost about 0.3 CPU-s each,
    213 times, in a run where the two cores are the limit."""
    settings = Settings(database_url=db_url, ami_enabled=False, kb_enabled=False)
    with TestClient(create_app(settings, SUITE_CLOCK), base_url="https://testserver") as client:
        yield client


@pytest.mark.parametrize(("method", "path"), sorted(MATRIX))
def test_route_x_role(matrix_app: TestClient, database: Database, headers: H, method: str,
                      path: str) -> None:
    entry = MATRIX[(method, path)]
    client = matrix_app
    client.cookies.clear()
    # an unowned ticket and callback for the ownership rows
    ticket = client.post("/api/v1/tickets", json={"kind": "report", "caller": "13800000001"},
                         headers=headers["admin"]).json()["ticket_no"]
    callback = client.post("/api/v1/callbacks", json={"number": "13800000001"},
                           headers=headers["admin"]).json()["id"]
    contact = handled_contact(database, "agent1", "expert1")
    target = (entry.path or path).format(ticket=ticket, callback=callback, contact=contact)
    outcomes: dict[str, int] = {}
    client.cookies.clear()
    outcomes["anonymous"] = _probe(client, method, entry, target, {})
    for role, auth in headers.items():
        outcomes[role] = _probe(client, method, entry, target, auth)
    for who, status in outcomes.items():
        if entry.allowed == TAXPAYER:
            assert status == 401, (who, status)
            continue
        if entry.allowed == OPEN:
            expected_ok = True
        elif who == "anonymous":
            assert status == 401, (who, status)
            continue
        else:
            expected_ok = who in entry.allowed
        if expected_ok:
            assert status not in (401, 403), (who, status)
        else:
            assert status == 403, (who, status)
