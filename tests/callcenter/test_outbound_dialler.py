"""The outbound callback dialler against a fake AMI, on the test's own clock (FixedClock: no
wall clock): offers to a ready agent of the right queue with the preview card, accept / skip /
the preview running out, Originate agent first through the trunk, the results closing or
rescheduling the request, the attempt's contact (direction outbound), service hours, claims
that keep two diallers apart, and an AMI connection lost mid-dial."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete

from callcenter.agents.models import AgentState
from callcenter.agents.services import AgentDesk
from callcenter.agents.state import CALLBACK_REASON
from callcenter.contacts.services import ContactLog, ContactService
from callcenter.db import Database
from callcenter.notify.services import Notifier, Subscription
from callcenter.outbound.book import CallbackBook, OutboundError
from callcenter.outbound.dialler import CallbackDialler, DiallerConfig
from callcenter.outbound.policy import RetryPolicy
from callcenter.queues.services import QueueService
from callcenter.settings import PROJECT_ROOT
from callcenter.tickets.models import CallbackRequest
from ivr.calendar import ServiceCalendar
from ivr.clock import FixedClock
from ivr.events import CallStarted, Escalated, MenuNodeEntered, QueueJoined
from ivr.menu.loader import load_menu
from ivr.ports import ContactEvent
from tests.callcenter.util import ensure_user
from tests.unit.fake_ami import Clients, FakeAmi, event, eventually

# a Tuesday morning, inside the service hours of ivr/hours.yaml (08:30-17:30)
OPEN = datetime.fromisoformat("2026-12-01T10:00:00+08:00")
CALENDAR = ServiceCalendar.load(PROJECT_ROOT / "ivr" / "hours.yaml")
MENU = load_menu(PROJECT_ROOT / "ivr/menus/12366.yaml")
NUMBER = "13900001234"


@dataclass
class Rig:
    dialler: CallbackDialler
    desk: AgentDesk
    book: CallbackBook
    clock: FixedClock
    fake: FakeAmi
    sub: Subscription
    log: ContactLog
    contacts: ContactService
    db: Database

    def actions(self, name: str) -> list[dict[str, str]]:
        return self.fake.named(name)

    async def message(self, kind: str) -> dict[str, object]:
        while True:
            payload = (await self.sub.get(5)).payload
            if payload.get("type") == kind:
                return dict(payload)

    def request(self, callback_id: int) -> CallbackRequest:
        found = self.book.get(callback_id)
        assert found is not None
        return found


@pytest.fixture
async def rig(clean_users: Database, contacts: ContactService) -> AsyncIterator[Rig]:
    db = clean_users
    with db.transaction() as session:
        session.execute(delete(CallbackRequest))
    clock = FixedClock(OPEN)
    ensure_user(db, "agent1", "agent", interface="PJSIP/agent1")
    ensure_user(db, "agent2", "agent", interface="PJSIP/agent2")
    queues = QueueService(db, clock)
    queues.set_agent_skills("agent1", {"general": 0}, actor="test")   # queue consult
    queues.set_agent_skills("agent2", {"vat": 0}, actor="test")       # queue tax-vat
    fake = FakeAmi()
    await fake.start()
    pool = Clients(fake)
    notifier = Notifier(clock)
    sub = notifier.subscribe("calls.agent1", "calls.agent2")
    log = ContactLog(contacts, None, clock=clock)
    log.start()
    desk = AgentDesk.build(db, queues, notifier, contacts, log, await pool.ready(),
                           wrapup_seconds=0.2, clock=clock, node_labels=MENU.titles)
    desk.load()
    book = CallbackBook(db, clock)
    dialler = CallbackDialler(
        book, RetryPolicy(3, (600, 1800), requeue_s=30), desk, await pool.ready(), log, CALENDAR,
        notifier, DiallerConfig(node="pbx1", preview_s=20, agent_ring_s=15, ring_s=25),
        clock=clock)
    await dialler.start()  # the connection is the pool's to start and close (the runtime's)
    try:
        yield Rig(dialler, desk, book, clock, fake, sub, log, contacts, db)
    finally:
        await dialler.stop()
        await desk.close()
        await log.close()
        await pool.close()
        await fake.close()


def original_call(rig: Rig, linkedid: str, queue: str = "consult") -> None:
    """The call the request came from: the menu path and the caller's own words."""
    at = rig.clock()
    for record in (CallStarted(caller=NUMBER), MenuNodeEntered(node="welcome"),
                   MenuNodeEntered(node="main_menu"),
                   Escalated(node="consult_speech", faq_id=None, queue=queue,
                             reason="declined", text="房租发票怎么开"),
                   QueueJoined(queue=queue)):
        rig.contacts.apply(ContactEvent(linkedid, record, at=at))


def new_request(rig: Rig, linkedid: str = "", queue: str | None = None,
                owner: str | None = None, due_in_s: float = -1) -> int:
    at = rig.clock()
    with rig.db.transaction() as session:
        request = CallbackRequest(number=NUMBER, linkedid=linkedid,
                                  reason="排队等待过长（consult）", status="pending",
                                  created_at=at - timedelta(hours=4),
                                  due_at=at + timedelta(seconds=due_in_s), queue=queue,
                                  owner=owner)
        session.add(request)
        session.flush()
        return request.id


def leg(rig: Rig, name: str, **headers: str) -> None:
    linkedid = rig.request(next(iter(rig.dialler.attempts))).attempt_linkedid or ""
    rig.fake.push(event(name, Channel="PJSIP/agent1-00000001", Uniqueid=linkedid,
                        Linkedid=linkedid, **headers))


async def offered(rig: Rig, callback_id: int) -> dict[str, object]:
    await rig.dialler.tick()
    assert rig.request(callback_id).status == "offered"
    return await rig.message("callback_preview")


async def test_a_resync_keeps_an_agent_on_a_callback_paused_and_on_it(rig: Rig) -> None:
    """After an AMI reconnection the desk restores each agent in Asterisk from its state: an
    agent previewing a callback stays paused (an unpause would let the queue offer them a
    caller) and keeps the callback (it is no queue call, so not a call lost meanwhile)."""
    await rig.desk.go_ready("agent1", by="agent1")
    original_call(rig, "orig-9")
    await offered(rig, new_request(rig, "orig-9"))
    rig.fake.lists["queuestatus"] = [{
        "Event": "QueueMember", "Queue": "consult", "Name": "agent1",
        "Location": "PJSIP/agent1", "StateInterface": "PJSIP/agent1", "Status": "1",
        "Paused": "1", "PausedReason": CALLBACK_REASON, "InCall": "0"}]
    before = len(rig.actions("QueuePause"))
    await rig.desk.events.resync()
    agent = rig.desk.agents["agent1"]
    assert (agent.state, agent.reason) == (AgentState.RINGING, CALLBACK_REASON)
    pauses = rig.actions("QueuePause")[before:]
    assert pauses, "the resync restores the pause"
    assert [(p["Paused"], p.get("Reason")) for p in pauses] == [("true", CALLBACK_REASON)]


async def test_a_due_callback_is_previewed_then_dialled_agent_first_and_retried(
        rig: Rig) -> None:
    await rig.desk.go_ready("agent1", by="agent1")
    await rig.desk.go_ready("agent2", by="agent2")
    original_call(rig, "orig-1")
    callback_id = new_request(rig, "orig-1")

    preview = await offered(rig, callback_id)
    # the agent of the original call's queue (consult), not agent2 (tax-vat)
    request = rig.request(callback_id)
    assert (request.offered_to, request.claimed_by) == ("agent1", "pbx1")
    assert preview["number_masked"] == "***1234"
    assert NUMBER not in str(preview)
    assert preview["asked"] == ["房租发票怎么开"]
    assert "欢迎语" in preview["ivr_path_labels"]  # type: ignore[operator]
    assert (preview["attempt"], preview["auto_dial_s"]) == (1, 20.0)
    agent = rig.desk.agents["agent1"]
    assert (agent.state, agent.reason) == (AgentState.RINGING, CALLBACK_REASON)
    assert rig.actions("QueuePause")[-1]["Reason"] == CALLBACK_REASON
    assert not rig.actions("Originate")  # nothing dialled before the agent decides

    rig.book.decide(callback_id, "agent1", "accept")
    await rig.dialler.tick()
    originate = rig.actions("Originate")[-1]
    linkedid = rig.request(callback_id).attempt_linkedid
    assert originate["Channel"] == "PJSIP/agent1"          # agent first
    assert (originate["Context"], originate["Exten"]) == ("hotline-callback-out", NUMBER)
    assert originate["ChannelId"] == linkedid
    assert rig.request(callback_id).status == "dialling"

    leg(rig, "DialBegin", DestChannel="PJSIP/callee-00000002")
    await eventually(lambda: agent.state is AgentState.ON_CALL)
    leg(rig, "DialEnd", DialStatus="NOANSWER")
    leg(rig, "Hangup", Cause="16", **{"Cause-txt": "Normal Clearing"})
    await eventually(lambda: rig.request(callback_id).status == "pending")
    request = rig.request(callback_id)
    assert (request.attempts, request.result) == (1, "no_answer")
    assert request.due_at == OPEN + timedelta(seconds=600)
    ended = await rig.message("callback_progress")
    while ended["stage"] != "ended":
        ended = await rig.message("callback_progress")
    assert (ended["result"], ended["next"]) == ("no_answer", "rescheduled")
    await rig.log.flush()
    contact = rig.contacts.get_by_linkedid(str(linkedid))
    assert contact is not None
    assert (contact.direction, contact.outcome, contact.caller_number) == (
        "outbound", "no_answer", NUMBER)
    assert "callback_dial" in [e.kind for e in contact.events]
    # wrap-up, then ready again; not due before the interval
    await eventually(lambda: agent.state is AgentState.READY)
    await rig.dialler.tick()
    assert rig.request(callback_id).status == "pending"

    # ten minutes later: the second attempt, dialled by itself when the preview runs out
    rig.clock.advance(timedelta(seconds=600))
    preview = await offered(rig, callback_id)
    assert preview["attempt"] == 2
    rig.clock.advance(timedelta(seconds=20))
    await rig.dialler.tick()
    assert rig.request(callback_id).status == "dialling"
    leg(rig, "DialBegin", DestChannel="PJSIP/callee-00000003")
    leg(rig, "DialEnd", DialStatus="ANSWER")
    await eventually(lambda: any(a.stage == "connected"
                                 for a in rig.dialler.attempts.values()))
    rig.clock.advance(timedelta(seconds=95))
    leg(rig, "Hangup", Cause="16")
    await eventually(lambda: rig.request(callback_id).status == "done")
    request = rig.request(callback_id)
    assert (request.attempts, request.result) == (2, "reached")
    await rig.log.flush()
    contact = rig.contacts.get_by_linkedid(str(request.attempt_linkedid))
    assert contact is not None
    assert (contact.direction, contact.outcome, contact.agent) == (
        "outbound", "answered", "agent1")
    assert contact.talk_seconds == pytest.approx(95.0)


async def test_two_ticks_at_once_dial_an_expired_preview_once(rig: Rig) -> None:
    """The dialler's own loop and another tick at the same moment: the offer whose preview
    ran out is dialled once and stays in hand (the tick that lost the race once dropped it,
    so the call's answer was never seen)."""
    await rig.desk.go_ready("agent1", by="agent1")
    callback_id = new_request(rig, queue="consult")
    await offered(rig, callback_id)
    rig.clock.advance(timedelta(seconds=20))
    await asyncio.gather(rig.dialler.tick(), rig.dialler.tick(), rig.dialler.tick())
    assert len(rig.actions("Originate")) == 1
    assert list(rig.dialler.attempts) == [callback_id]
    assert rig.dialler.attempts[callback_id].stage == "dialling"
    assert rig.desk.agents["agent1"].state is AgentState.RINGING


async def test_a_skipped_preview_goes_to_another_agent_and_the_agent_is_ready(
        rig: Rig) -> None:
    QueueService(rig.db, rig.clock).set_agent_skills("agent2", {"general": 0}, actor="test")
    await rig.desk.go_ready("agent1", by="agent1")
    callback_id = new_request(rig, queue="consult")
    await offered(rig, callback_id)
    first = rig.request(callback_id).offered_to
    assert first == "agent1"
    # agent2 is not offered it while agent1 has it
    await rig.desk.go_ready("agent2", by="agent2")
    with pytest.raises(OutboundError) as other:
        rig.book.decide(callback_id, "agent2", "accept")
    assert other.value.status == 409
    assert "已分配给坐席 agent1" in other.value.detail
    rig.book.decide(callback_id, "agent1", "skip")
    with pytest.raises(OutboundError):  # one decision only
        rig.book.decide(callback_id, "agent1", "accept")
    await rig.dialler.tick()
    assert rig.desk.agents["agent1"].state is AgentState.READY
    assert rig.actions("QueuePause")[-1]["Paused"] == "false"
    assert not rig.actions("Originate")
    rig.clock.advance(timedelta(seconds=30))
    await rig.dialler.tick()
    assert rig.request(callback_id).offered_to == "agent2"   # not agent1 again
    assert rig.request(callback_id).attempts == 0


async def test_outside_service_hours_nothing_is_offered(rig: Rig) -> None:
    await rig.desk.go_ready("agent1", by="agent1")
    rig.clock.set(datetime.fromisoformat("2026-12-01T20:00:00+08:00"))
    callback_id = new_request(rig)
    await rig.dialler.tick()
    assert rig.request(callback_id).status == "pending"
    rig.clock.set(datetime.fromisoformat("2026-12-02T08:30:00+08:00"))
    await rig.dialler.tick()
    assert rig.request(callback_id).status == "offered"


async def test_owned_and_queued_requests_wait_for_their_agent(rig: Rig) -> None:
    await rig.desk.go_ready("agent2", by="agent2")            # tax-vat only
    consult = new_request(rig, queue="consult")
    owned = new_request(rig, owner="agent1")
    await rig.dialler.tick()
    assert rig.request(consult).status == "pending"
    assert rig.request(owned).status == "pending"
    await rig.desk.go_ready("agent1", by="agent1")
    await rig.dialler.tick()
    assert {rig.request(consult).status, rig.request(owned).status} == {"pending", "offered"}


async def test_two_diallers_never_claim_one_request(rig: Rig) -> None:
    callback_id = new_request(rig)
    other = CallbackBook(rig.db, rig.clock)
    claims = [rig.book.claim(callback_id, "pbx1", "agent1", "cb-a"),
              other.claim(callback_id, "pbx2", "agent2", "cb-b")]
    assert claims == [True, False]
    assert rig.request(callback_id).claimed_by == "pbx1"
    # a claim whose process died is taken over after the claim timeout
    rig.clock.advance(timedelta(seconds=601))
    assert other.claim(callback_id, "pbx2", "agent2", "cb-c")
    assert rig.request(callback_id).claimed_by == "pbx2"


async def test_an_ami_disconnect_mid_dial_reschedules_the_callback(rig: Rig) -> None:
    await rig.desk.go_ready("agent1", by="agent1")
    callback_id = new_request(rig)
    await offered(rig, callback_id)
    rig.book.decide(callback_id, "agent1", "accept")
    await rig.dialler.tick()
    leg(rig, "DialBegin", DestChannel="PJSIP/callee-00000004")
    await eventually(lambda: rig.desk.agents["agent1"].state is AgentState.ON_CALL)
    linkedid = rig.request(callback_id).attempt_linkedid
    rig.fake.drop_connections()
    await eventually(lambda: rig.request(callback_id).status == "pending")
    request = rig.request(callback_id)
    assert (request.result, request.attempts, request.claimed_by) == ("interrupted", 0, None)
    assert request.due_at == OPEN + timedelta(seconds=600)
    assert rig.dialler.interrupted == 1
    await rig.log.flush()
    contact = rig.contacts.get_by_linkedid(str(linkedid))
    assert contact is not None
    assert contact.ended_at is not None
    assert contact.reconciled
    # the agent's leg hangs up once the connection is back: the agent wraps up, then ready
    await rig.dialler.ami.wait_ready(5)
    rig.fake.push(event("Hangup", Channel="PJSIP/agent1-00000001", Uniqueid=str(linkedid),
                        Linkedid=str(linkedid), Cause="16"))
    await eventually(lambda: rig.desk.agents["agent1"].state is AgentState.READY)


async def test_a_refused_originate_gives_the_request_back(rig: Rig) -> None:
    rig.fake.silent_actions.add("originate")   # no answer: the action times out
    await rig.desk.go_ready("agent1", by="agent1")
    callback_id = new_request(rig)
    await offered(rig, callback_id)
    rig.book.decide(callback_id, "agent1", "accept")
    await rig.dialler.tick()
    await eventually(lambda: rig.request(callback_id).status == "pending", timeout=8)
    assert rig.request(callback_id).attempts == 0
    await eventually(lambda: rig.desk.agents["agent1"].state is AgentState.READY)
    await asyncio.sleep(0)
