"""Menu sessions caught by an AMI outage (issue 15 item 4, "nothing lost"), against the fake
AMI: after the reconnection each waiting session is resolved by the reconciliation. A caller
who hung up meanwhile ends with exactly one call_ended and no session left; a caller still
there resumes; a session never waits longer than ``resume_timeout``."""

from __future__ import annotations

import asyncio

from ivr.bridge import IvrBridge
from ivr.clock import RunningClock
from ivr.ports import EventKind
from ivr.services import IvrServices
from tests.unit.fake_ami import Clients, FakeAmi, eventually
from tests.unit.test_menu_engine import MAIN
from tests.unit.test_recovery import CLOCK_START, HistoryRecorder, in_main, show_channel

PARKED = show_channel("1700.1", "1700.1", "AGI", "agi:async")


class ContactLog(HistoryRecorder):
    """Like the contact log: a contact that got call_ended is no longer open."""

    async def open_contacts(self) -> list[str]:
        ended = {e.linkedid for e in self.events if e.kind is EventKind.CALL_ENDED}
        return [linkedid for linkedid in self.stored if linkedid not in ended]


async def in_a_prompt(server: FakeAmi, clients: Clients, recorder: ContactLog,
                      resume_timeout: float = 60.0) -> IvrBridge:
    """A bridge whose one session (adopted at ``main``) waits on a prompt's AGI result."""
    server.lists["coreshowchannels"] = [PARKED]
    client = clients.make()
    bridge = IvrBridge(client, lambda: MAIN, recorder,
                       IvrServices(clock=RunningClock(CLOCK_START)),
                       resume_timeout=resume_timeout)
    await client.start()
    await client.wait_ready(5)
    await eventually(lambda: len(server.named("AGI")) >= 1, what="the session's prompt")
    return bridge


def session_of(bridge: IvrBridge) -> asyncio.Task[None]:
    session = bridge.calls["1700.1"].session
    assert session is not None
    return session


async def test_a_caller_gone_during_the_outage_ends_once_and_leaves_no_session(
        server: FakeAmi, clients: Clients) -> None:
    recorder = ContactLog({"1700.1": in_main("1700.1")})
    bridge = await in_a_prompt(server, clients, recorder)
    session = session_of(bridge)
    assert not session.done()

    server.lists["coreshowchannels"] = []  # the caller hangs up while AMI is down
    server.drop_connections()
    await eventually(lambda: bridge.reconciliations == 2, what="the reconciliation")
    await eventually(session.done, what="the waiting session ended")

    assert session.exception() is None
    assert bridge.calls == {}
    ended = recorder.data(EventKind.CALL_ENDED)
    assert len(ended) == 1
    assert ended[0]["reconciled"] is True
    hangups = recorder.data(EventKind.IVR_HANGUP)
    assert hangups == []  # not an internal error, no hang-up of a channel that is gone
    assert EventKind.RESUMED not in recorder.kinds()[2:]  # never resumed on the dead channel
    agi_before = len(server.named("AGI"))
    # a later reconnection finds nothing more to end
    server.drop_connections()
    await eventually(lambda: bridge.reconciliations == 3, what="the next reconciliation")
    assert len(recorder.data(EventKind.CALL_ENDED)) == 1
    assert len(server.named("AGI")) == agi_before


async def test_a_caller_still_there_resumes_after_the_reconciliation(
        server: FakeAmi, clients: Clients) -> None:
    recorder = ContactLog({"1700.1": in_main("1700.1")})
    bridge = await in_a_prompt(server, clients, recorder)
    session = session_of(bridge)
    prompts = len(server.named("AGI"))

    server.drop_connections()  # the channel stays parked in AsyncAGI
    await eventually(lambda: bridge.reconciliations == 2, what="the reconciliation")
    await eventually(lambda: len(server.named("AGI")) > prompts, what="the prompt again")

    assert not session.done()
    assert bridge.calls["1700.1"].session is session  # the same session, not a second one
    resumed = recorder.data(EventKind.RESUMED)
    assert resumed[-1] == {"node": "main", "reason": "AmiConnectionLost"}
    assert recorder.data(EventKind.CALL_ENDED) == []
    session.cancel()


async def test_a_session_waits_no_longer_than_the_resume_timeout(
        server: FakeAmi, clients: Clients) -> None:
    recorder = ContactLog({"1700.1": in_main("1700.1")})
    bridge = await in_a_prompt(server, clients, recorder, resume_timeout=0.2)
    session = session_of(bridge)

    server.down = True  # Asterisk unreachable for longer than resume_timeout
    server.drop_connections()
    await eventually(session.done, what="the session given up")
    assert session.exception() is None
    assert recorder.data(EventKind.CALL_ENDED) == []  # the end is not known yet

    # when AMI is back, the caller gone meanwhile is ended by the reconciliation, once
    server.lists["coreshowchannels"] = []
    server.down = False
    await eventually(lambda: bridge.reconciliations == 2, what="the reconciliation")
    assert bridge.calls == {}
    assert len(recorder.data(EventKind.CALL_ENDED)) == 1


async def test_a_late_coreshowchannels_is_asked_again_and_the_caller_still_ended(
        server: FakeAmi, clients: Clients) -> None:
    recorder = ContactLog({"1700.1": in_main("1700.1")})
    server.lists["coreshowchannels"] = [PARKED]
    client = clients.make()
    bridge = IvrBridge(client, lambda: MAIN, recorder,
                       IvrServices(clock=RunningClock(CLOCK_START)),
                       reconcile_timeout=0.2, reconcile_retry_s=0.01)
    await client.start()
    await eventually(lambda: len(server.named("AGI")) >= 1, what="the session's prompt")
    session = session_of(bridge)

    # the caller hangs up while AMI is down; the first CoreShowChannels after it goes unanswered
    server.lists["coreshowchannels"] = []
    server.silent_actions.add("coreshowchannels")
    asked = len(server.named("CoreShowChannels"))
    server.drop_connections()
    await eventually(lambda: len(server.named("CoreShowChannels")) > asked,
                     what="the first CoreShowChannels")
    server.silent_actions.discard("coreshowchannels")
    await eventually(lambda: bridge.reconciliations == 2, what="the reconciliation, retried")
    await eventually(session.done, what="the waiting session ended")

    assert len(server.named("CoreShowChannels")) >= asked + 2
    assert bridge.calls == {}
    assert len(recorder.data(EventKind.CALL_ENDED)) == 1
