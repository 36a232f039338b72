"""The contact log on SQLite and PostgreSQL: outcomes, timelines, the HTTP API, bad input."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from callcenter.app import create_app
from callcenter.contacts.models import Contact, ContactEventRow, Outcome, channel_of
from callcenter.contacts.services import ContactFilters, ContactLog, ContactService
from callcenter.settings import Settings
from ivr.events import CallStarted, MenuNodeEntered
from ivr.ports import ContactEvent, EventKind
from ivr.recovery import whereabouts
from tests.callcenter.util import token_for
from tests.support import SUITE_CLOCK

T0 = datetime(2026, 11, 28, 1, 0, 0, tzinfo=UTC)


Step = tuple[float, EventKind, Mapping[str, object]]


def play(service: ContactService, linkedid: str, steps: Sequence[Step]) -> None:
    for offset, kind, data in steps:
        service.apply(ContactEvent.parse(linkedid, kind, data, at=T0 + timedelta(seconds=offset)))


START: Step = (0.0, EventKind.CALL_STARTED,
               {"caller": "13800000000", "channel": "PJSIP/caller-1"})


# the FAQ node served the caller (SELF_SERVICE as the menu engine writes it)
SERVED: dict[str, object] = {"node": "faq", "service": "faq", "detail": None}


def end(at: float, reconciled: bool = False) -> Step:
    return (at, EventKind.CALL_ENDED,
            {"cause": 16, "cause_txt": "Normal Clearing", "reconciled": reconciled})


@pytest.mark.parametrize(
    ("steps", "outcome"),
    [
        ([START, (5, EventKind.SELF_SERVICE, SERVED), end(20)], Outcome.SELF_SERVICE),
        ([START, (3, EventKind.MENU_NODE, {"node": "main"}), end(6)], Outcome.ABANDONED_IVR),
        ([START, (3, EventKind.IVR_HANGUP, {"node": "main", "reason": "max_retries"}), end(4)],
         Outcome.ABANDONED_IVR),
        ([START, (3, EventKind.IVR_HANGUP, {"node": "main", "reason": "agi_error"}), end(4)],
         Outcome.FAILED),
        ([START, (3, EventKind.IVR_HANGUP, {"node": "main", "reason": "prompt_failed"}), end(4)],
         Outcome.FAILED),
        # the menu's reason may come just after the hang-up Asterisk made itself
        ([START, end(4), (4, EventKind.IVR_HANGUP, {"node": "main", "reason": "prompt_failed"})],
         Outcome.FAILED),
        ([START, (4, EventKind.TRANSFER, {"node": "agent", "queue": "consult"}),
          (5, EventKind.QUEUE_JOINED, {"queue": "consult", "position": 1}),
          (9, EventKind.QUEUE_ABANDONED, {"queue": "consult", "hold_time": 4}), end(9)],
         Outcome.ABANDONED_QUEUE),
        ([START, (5, EventKind.SELF_SERVICE, SERVED),
          (6, EventKind.QUEUE_JOINED, {"queue": "consult"}), end(30)], Outcome.ABANDONED_QUEUE),
        ([START, (5, EventKind.QUEUE_JOINED, {"queue": "consult"}),
          (12, EventKind.AGENT_CONNECTED, {"queue": "consult", "agent": "agent1",
                                           "hold_time": 7, "ring_time": 1}),
          (40, EventKind.AGENT_COMPLETED, {"queue": "consult", "agent": "agent1",
                                           "talk_time": 28, "hold_time": 7}), end(40)],
         Outcome.ANSWERED),
        ([START, (5, EventKind.OUTCOME, {"outcome": "message_left"}), end(40)],
         Outcome.MESSAGE_LEFT),
    ],
)
def test_outcome_is_derived_once_per_contact(
    contacts: ContactService, steps: list[Step],
    outcome: Outcome,
) -> None:
    play(contacts, "1795000000.1", steps)
    contact = contacts.get_by_linkedid("1795000000.1")
    assert contact is not None
    assert contact.outcome == outcome
    assert contact.ended_at == T0 + timedelta(seconds=steps[-1][0])
    assert [e.kind for e in contact.events] == [str(s[1]) for s in steps]
    assert contact.events[0].at.tzinfo is not None


def test_answered_contact_figures(contacts: ContactService) -> None:
    play(contacts, "L-answered", [
        START, (4, EventKind.TRANSFER, {"node": "agent", "queue": "consult"}),
        (5, EventKind.QUEUE_JOINED, {"queue": "consult", "position": 1}),
        (12, EventKind.AGENT_CONNECTED, {"queue": "consult", "agent": "agent1", "hold_time": 7,
                                         "ring_time": 1}),
        (40, EventKind.AGENT_COMPLETED, {"queue": "consult", "agent": "agent1", "talk_time": 28,
                                         "hold_time": 7}),
        end(41),
    ])
    c = contacts.get_by_linkedid("L-answered")
    assert c is not None
    assert (c.queue, c.agent) == ("consult", "agent1")
    assert c.queue_wait_seconds == 7
    assert c.talk_seconds == 28
    assert c.ivr_seconds == 4
    assert channel_of(c.outcome) == "manual"


def test_talk_time_without_agent_complete_comes_from_the_hangup(contacts: ContactService) -> None:
    play(contacts, "L-x", [
        START, (5, EventKind.QUEUE_JOINED, {"queue": "consult"}),
        (10, EventKind.AGENT_CONNECTED, {"queue": "consult", "agent": "agent2", "hold_time": 5}),
        end(25, reconciled=True),
    ])
    c = contacts.get_by_linkedid("L-x")
    assert c is not None
    assert c.talk_seconds == 15
    assert c.reconciled is True
    assert c.outcome == "answered"


def connected(at: float, agent: str, queue: str = "consult", hold: float = 5,
              consult: bool = False) -> Step:
    data: dict[str, object] = {"queue": queue, "agent": agent, "hold_time": hold,
                               "ring_time": 1}
    if consult:
        data["consult"] = True
    return (at, EventKind.AGENT_CONNECTED, data)


def completed(at: float, agent: str, talk: float | None, queue: str = "consult",
              reason: str = "caller") -> Step:
    data: dict[str, object] = {"queue": queue, "agent": agent, "hold_time": 5, "reason": reason}
    if talk is not None:
        data["talk_time"] = talk
    return (at, EventKind.AGENT_COMPLETED, data)


QUEUED: list[Step] = [START, (4, EventKind.TRANSFER, {"node": "agent", "queue": "consult"}),
                      (5, EventKind.QUEUE_JOINED, {"queue": "consult", "position": 1})]
CONSULT_JOIN: Step = (70, EventKind.QUEUE_JOINED,
                      {"queue": "experts", "position": 1, "consult": True})


@pytest.mark.parametrize(("legs", "talk"), [
    # consult then complete: agent1 0-100 s (from the connect at 10), the expert 60-160 s
    ([connected(10, "agent1"), CONSULT_JOIN, connected(70, "agent2", "experts", 1, True),
      completed(110, "agent1", 100, reason="transfer"),
      completed(170, "agent2", 100, "experts"), end(170)], 160),
    # three-way: the expert joins at 60 s, agent1 leaves at 150 s, the expert at 200 s
    ([connected(10, "agent1"), CONSULT_JOIN, connected(70, "agent2", "experts", 1, True),
      completed(160, "agent1", 150), completed(210, "agent2", 140, "experts"), end(210)], 200),
    # the expert's end comes after the caller's hang-up (ivr/bridge.py records it late)
    ([connected(10, "agent1"), CONSULT_JOIN, connected(70, "agent2", "experts", 1, True),
      completed(110, "agent1", 100, reason="transfer"), end(170),
      completed(170.4, "agent2", 100, "experts")], 160.4),
    # a blind transfer: legs one after another add up
    ([connected(10, "agent1"), completed(40, "agent1", 30, reason="transfer"),
      (41, EventKind.QUEUE_JOINED, {"queue": "experts", "position": 1}),
      connected(45, "agent2", "experts"), completed(95, "agent2", 50, "experts"), end(95)], 80),
    # the bridge lost the expert's leg (no agent_completed): connect to hang-up
    ([connected(10, "agent1"), CONSULT_JOIN, connected(70, "agent2", "experts", 1, True),
      completed(110, "agent1", 100, reason="transfer"), end(150)], 140),
    # the first agent's leg lost, the expert's completed: 10-150 with 60-150 inside it
    ([connected(10, "agent1"), CONSULT_JOIN, connected(70, "agent2", "experts", 1, True),
      completed(150, "agent2", 80, "experts"), end(150)], 140),
    # a completion without Asterisk's talk time: its connect to the completion
    ([connected(10, "agent1"), completed(35, "agent1", None), end(36)], 25),
    # the caller redirected to experts (no agent_completed for agent1): 10-12, then 13-16
    ([connected(10, "agent1"), (12, EventKind.QUEUE_JOINED, {"queue": "experts"}),
      connected(13, "agent2", "experts"), completed(16, "agent2", 3, "experts"), end(40)], 5),
    # ... and agent1's completion seen late, Asterisk's talk time running on: cut at the join
    ([connected(10, "agent1"), (12, EventKind.QUEUE_JOINED, {"queue": "experts"}),
      connected(13, "agent2", "experts"), completed(16, "agent2", 3, "experts"),
      completed(38, "agent1", 28), end(40)], 5),
], ids=["consult", "three-way", "expert-ends-late", "sequential", "expert-lost",
        "first-lost", "no-talk-time", "redirected", "redirected-late-end"])
def test_talk_time_counts_two_agents_on_the_call_once(
        contacts: ContactService, legs: list[Step], talk: float) -> None:
    play(contacts, "L-talk", [*QUEUED, *legs])
    c = contacts.get_by_linkedid("L-talk")
    assert c is not None
    assert c.talk_seconds == pytest.approx(talk)
    assert c.outcome == "answered"


SCENARIOS: dict[str, list[Step]] = {
    "faq": [START, (2, EventKind.MENU_NODE, {"node": "main"}),
            (5, EventKind.SELF_SERVICE, SERVED), end(20)],
    "consult": [*QUEUED, connected(12, "agent1", hold=7), CONSULT_JOIN,
                connected(80, "agent2", "experts", hold=10, consult=True),
                completed(112, "agent1", 100, reason="transfer"),
                completed(180, "agent2", 100, "experts"), end(180)],
    "expert-ends-late": [*QUEUED, connected(10, "agent1"), CONSULT_JOIN,
                         connected(70, "agent2", "experts", 1, True),
                         completed(110, "agent1", 100, reason="transfer"), end(170),
                         completed(170.4, "agent2", 100, "experts")],
    "late-start": [(1, EventKind.MENU_NODE, {"node": "main"}), START, end(3),
                   (4, EventKind.CALL_ENDED, {"cause": 0, "reconciled": True})],
    "open": [START, (3, EventKind.MENU_NODE, {"node": "main"})],
    # the agent's connect lost: Asterisk's talk time ends at the completion
    "completion-only": [*QUEUED, completed(30, "agent1", 20), end(40)],
    # its call_started lost: the contact starts at its first event
    "no-start": [(6, EventKind.MENU_NODE, {"node": "main"}), end(9)],
}


def _stored(service: ContactService, prefix: str) -> dict[str, object]:
    """Every column of the contacts of ``prefix`` (but ids) and their events in order."""
    out: dict[str, object] = {}
    with service.db.session() as session:
        for contact in session.scalars(select(Contact).where(
                Contact.linkedid.startswith(prefix))):
            columns = {c.key: getattr(contact, c.key) for c in Contact.__table__.columns
                       if c.key not in ("id", "linkedid")}
            events = [(e.at, e.kind, e.data) for e in session.scalars(
                select(ContactEventRow).where(ContactEventRow.contact_id == contact.id)
                .order_by(ContactEventRow.id))]
            out[contact.linkedid.removeprefix(prefix)] = (columns, events)
    return out


@pytest.mark.parametrize("batch", [1, 3, 7, 40])
def test_a_batch_stores_what_one_event_at_a_time_stores(contacts: ContactService,
                                                        batch: int) -> None:
    """``apply_batch`` (the bridge's writer under load) against ``apply``: the same contacts
    and timelines, for calls interleaved in one stream, some of them begun in an earlier
    transaction (a batch meets stored contacts and new ones)."""
    def stream(prefix: str) -> list[ContactEvent]:
        steps = [(name, step) for name, steps in SCENARIOS.items()
                 for step in steps]
        steps.sort(key=lambda item: item[1][0])  # by moment: the calls interleave
        return [ContactEvent.parse(prefix + name, kind, data,
                                   at=T0 + timedelta(seconds=offset))
                for name, (offset, kind, data) in steps]

    for event in stream("S-"):
        contacts.apply(event)
    events = stream("B-")
    for event in events[:4]:
        contacts.apply(event)
    rest = events[4:]
    for start in range(0, len(rest), batch):
        assert contacts.apply_batch(rest[start:start + batch]) == [True] * len(
            rest[start:start + batch])
    one_by_one, batched = _stored(contacts, "S-"), _stored(contacts, "B-")
    assert sorted(batched) == sorted(SCENARIOS)
    assert batched == one_by_one


def test_talk_time_grows_with_the_legs_while_the_call_goes_on(contacts: ContactService) -> None:
    def talk() -> float | None:
        c = contacts.get_by_linkedid("L-live")
        assert c is not None
        return c.talk_seconds

    play(contacts, "L-live", [*QUEUED, connected(10, "agent1"), CONSULT_JOIN,
                              connected(70, "agent2", "experts", 1, True)])
    assert talk() is None  # no leg has ended yet
    play(contacts, "L-live", [completed(110, "agent1", 100, reason="transfer")])
    assert talk() == 100  # the expert's leg is still open
    play(contacts, "L-live", [completed(170, "agent2", 100, "experts"), end(170)])
    assert talk() == 160


def test_a_consultation_leaves_the_callers_queue_wait_and_ivr_time(
        contacts: ContactService) -> None:
    play(contacts, "L-consult", [
        *QUEUED, connected(12, "agent1", hold=7), CONSULT_JOIN,
        connected(80, "agent2", "experts", hold=10, consult=True),
        completed(112, "agent1", 100, reason="transfer"),
        completed(180, "agent2", 100, "experts"), end(180)])
    c = contacts.get_by_linkedid("L-consult")
    assert c is not None
    assert c.queue_joined_at == T0 + timedelta(seconds=5)
    assert c.ivr_seconds == 4
    assert c.queue_wait_seconds == 7  # the caller's wait, not the expert leg's 10 s
    assert c.agent == "agent2"
    assert c.agents() == ["agent1", "agent2"]
    assert c.talk_seconds == 168  # 12-112 and 80-180


def test_a_second_end_does_not_change_the_outcome(contacts: ContactService) -> None:
    play(contacts, "L-dup", [START, (5, EventKind.SELF_SERVICE, SERVED), end(10),
                             (11, EventKind.CALL_ENDED, {"cause": 0, "reconciled": True})])
    c = contacts.get_by_linkedid("L-dup")
    assert c is not None
    assert c.outcome == "self_service"
    assert c.reconciled is False
    assert c.ended_at == T0 + timedelta(seconds=10)
    assert [e.kind for e in c.events].count("call_ended") == 2
    assert contacts.open_linkedids() == []


def test_events_before_the_start_still_make_one_contact(contacts: ContactService) -> None:
    play(contacts, "L-late", [(1, EventKind.MENU_NODE, {"node": "main"}), START, end(3)])
    total, rows = contacts.search(ContactFilters())
    assert total == 1
    assert rows[0].started_at == T0
    assert rows[0].caller_number == "13800000000"


def test_open_contacts_are_listed_for_reconciliation(contacts: ContactService) -> None:
    play(contacts, "L-open", [START])
    play(contacts, "L-closed", [START, end(3)])
    assert contacts.open_linkedids() == ["L-open"]


async def test_a_restarted_bridge_reads_where_its_calls_were(contacts: ContactService) -> None:
    # ivr/recovery.py: the contacts' stored events, in order, as typed records
    play(contacts, "L-menu", [START, (1, EventKind.MENU_NODE, {"node": "welcome"}),
                              (6, EventKind.MENU_NODE, {"node": "main"})])
    play(contacts, "L-other", [START, end(2)])
    log = ContactLog(contacts)
    log.start()
    try:
        log.record(ContactEvent.parse("L-menu", EventKind.MENU_NODE, {"node": "consult"},
                                      at=T0 + timedelta(seconds=9)))
        histories = await log.contact_histories(["L-menu", "L-none"])
    finally:
        await log.close()
    assert list(histories) == ["L-menu"]  # no contact, no entry
    assert [type(r) for r in histories["L-menu"]] == [CallStarted, MenuNodeEntered,
                                                      MenuNodeEntered, MenuNodeEntered]
    assert whereabouts(histories["L-menu"]).node == "consult"  # recorded last: stored first


@pytest.fixture
def client(db_url: str, contacts: ContactService) -> Iterator[TestClient]:
    settings = Settings(database_url=db_url, ami_enabled=False, kb_enabled=False)
    with TestClient(create_app(settings, SUITE_CLOCK)) as test_client:
        # contacts need a login; a supervisor sees every contact (tests/callcenter: role rules)
        token = token_for(contacts.db, "contacts-supervisor", "supervisor")
        test_client.headers["Authorization"] = f"Bearer {token}"
        yield test_client


def test_contacts_api_lists_filters_and_details(client: TestClient,
                                                contacts: ContactService) -> None:
    play(contacts, "L-a", [START, (5, EventKind.SELF_SERVICE, SERVED), end(10)])
    play(contacts, "L-b", [(3600, *START[1:]), (3605, EventKind.QUEUE_JOINED, {"queue": "vat"}),
                           end(3700)])
    body = client.get("/api/v1/contacts").json()
    assert body["total"] == 2
    assert [i["linkedid"] for i in body["items"]] == ["L-b", "L-a"]  # newest first
    body = client.get("/api/v1/contacts", params={"outcome": "self_service"}).json()
    assert [i["linkedid"] for i in body["items"]] == ["L-a"]
    assert body["items"][0]["contact_channel"] == "automatic_voice"
    body = client.get("/api/v1/contacts", params={"queue": "vat"}).json()
    assert [i["linkedid"] for i in body["items"]] == ["L-b"]
    window = {"from": "2026-11-28T09:30:00+08:00", "to": "2026-11-28T11:00:00+08:00"}
    body = client.get("/api/v1/contacts", params=window).json()
    assert [i["linkedid"] for i in body["items"]] == ["L-b"]
    detail = client.get(f"/api/v1/contacts/{body['items'][0]['id']}").json()
    assert [e["kind"] for e in detail["events"]] == ["call_started", "queue_joined",
                                                     "call_ended"]
    assert detail["outcome"] == "abandoned_queue"


def test_contacts_filter_by_direction(client: TestClient, contacts: ContactService) -> None:
    """Inbound calls and an agent's callback attempt (``direction`` outbound): the search by
    query and by JSON body keeps the one asked for."""
    play(contacts, "L-in", [START, (5, EventKind.SELF_SERVICE, SERVED), end(10)])
    play(contacts, "L-out", [(60, EventKind.CALL_STARTED, {
        "caller": "13800000000", "channel": "PJSIP/agent1-1", "direction": "outbound"}),
        (90, EventKind.OUTCOME, {"outcome": "no_answer"}), end(95)])
    every = client.get("/api/v1/contacts").json()
    assert {i["linkedid"]: i["direction"] for i in every["items"]} == {
        "L-in": "inbound", "L-out": "outbound"}
    out = client.get("/api/v1/contacts", params={"direction": "outbound"}).json()
    assert (out["total"], [i["linkedid"] for i in out["items"]]) == (1, ["L-out"])
    found = client.post("/api/v1/contacts/search", json={"direction": "inbound",
                                                         "caller": "13800000000"}).json()
    assert (found["total"], [i["linkedid"] for i in found["items"]]) == (1, ["L-in"])
    bad = client.post("/api/v1/contacts/search", json={"direction": "sideways"})
    assert bad.status_code == 422
    assert "direction" in bad.json()["detail"]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"from": "2026-11-28T10:00:00+08:00", "to": "2026-11-28T09:00:00+08:00"},
         "“from”须早于“to”"),
        ({"from": "2026-11-28T10:00:00"}, "时区"),
        ({"from": "yesterday"}, "from"),
        ({"outcome": "happy"}, "outcome"),
        ({"direction": "sideways"}, "direction"),
        ({"limit": "0"}, "limit"),
        ({"limit": "100000"}, "limit"),
    ],
)
def test_bad_contact_queries_get_422_with_a_reason(client: TestClient, params: dict[str, str],
                                                   reason: str) -> None:
    response = client.get("/api/v1/contacts", params=params)
    assert response.status_code == 422
    assert reason in response.json()["detail"]


def test_unknown_contact_is_404(client: TestClient) -> None:
    response = client.get("/api/v1/contacts/999999")
    assert response.status_code == 404
    assert "not found" in response.json()["detail"]
    assert client.get("/api/v1/contacts/abc").status_code == 422


def test_health_reports_database_and_disabled_ami(client: TestClient) -> None:
    body = client.get("/api/v1/health").json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["ami"] == {"ok": False, "enabled": False, "state": "disabled"}
    spool = body["checks"]["contact_spool"]
    assert spool["ok"] is True
    assert spool["depth"] == 0
    assert spool["dead_letters"] == 0
    assert spool["durable"] is True
    assert body["status"] == "ok"


def test_health_warns_when_the_bridge_gets_no_dtmf_events(client: TestClient) -> None:
    # a bridge on an AMI client that is never started: only its health is read
    from ivr.ami.client import AmiClient
    from ivr.bridge import IvrBridge
    from ivr.menu.loader import load_menu
    from ivr.services import IvrServices
    from tests.conftest import MENU_FILE

    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    menu = load_menu(MENU_FILE)
    runtime.bridge = IvrBridge(AmiClient("127.0.0.1", 1, "hotline", "secret"), lambda: menu,
                               runtime.contact_log, services=IvrServices(clock=SUITE_CLOCK))
    try:
        body = client.get("/api/v1/health").json()
        assert body["checks"]["bridge"]["dtmf_events"] is True
        assert not [w for w in body["warnings"] if "DTMF" in w]
        runtime.bridge.agi.dtmf_events = False  # a key came in a result, never as an event
        body = client.get("/api/v1/health").json()
        assert body["checks"]["bridge"]["dtmf_events"] is False
        assert [w for w in body["warnings"] if "dtmf read class" in w]
        assert body["status"] == "ok"
    finally:
        runtime.bridge = None
