"""The AMI bridge: turns Asterisk's view of calls into menu sessions and contact events.

* ``AsyncAGIStart`` on a new channel starts a contact and a :class:`MenuSession`.
* Queue and agent events of that call's ``Linkedid`` go to the contact timeline.
* The ``Hangup`` of the caller's channel ends the contact.
* After every (re)connection the bridge reconciles: contacts whose channel vanished while the
  connection was down are ended (flagged ``reconciled``); channels still waiting in AsyncAGI with
  no live session get a new session; a caller found bridged to an agent is marked connected.
  When Asterisk itself restarted meanwhile (a crash), its calls ended when the connection was
  lost, and their contacts end at that moment (queue wait and talk time run up to the crash);
  otherwise the end is only known to lie in the outage and is taken at the reconciliation.
* A session caught by an AMI outage waits (at most ``resume_timeout``) for the reconciliation
  after the reconnection, then resumes if its channel is still there, or ends (caller hang-up)
  if the reconciliation found it gone and ended its contact: never both, never forever.
* Calls it never saw start (the bridge restarted) are adopted where their contact's events
  leave them (:mod:`ivr.recovery`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ivr.agi import AgiChannel, AsyncAgi, ChannelHungUp
from ivr.ami.client import AmiClient, AmiError, AmiNotConnected
from ivr.ami.events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AsyncAgiStart,
    Hangup,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueEvent,
)
from ivr.events import (
    AgentCompleted,
    AgentConnected,
    AgentRinging,
    CallEnded,
    CallStarted,
    EventKind,
    EventRecord,
    IvrHangup,
    QueueAbandoned,
    QueueJoined,
    Resumed,
)
from ivr.menu.engine import MenuSession
from ivr.menu.schema import Menu
from ivr.ports import ContactEvent, ContactRecorder
from ivr.recovery import RESTART_REASON, live_channels, plan_adoptions
from ivr.services import IvrServices

log = logging.getLogger(__name__)


def channel_key(kind: EventKind, uniqueid: str) -> str:
    """The idempotence key of the one ``kind`` event a channel has (ContactEvent.key)."""
    return hashlib.sha256(f"{kind}/{uniqueid}".encode()).hexdigest()


@dataclass
class Call:
    linkedid: str
    uniqueid: str
    channel: str
    caller: str
    queue: str | None = None
    agent: str | None = None
    session: asyncio.Task[None] | None = field(default=None, repr=False)


class IvrBridge:
    def __init__(
        self,
        client: AmiClient,
        menu: Callable[[], Menu],
        recorder: ContactRecorder,
        services: IvrServices,
        resume_timeout: float = 60.0,
        reconcile_attempts: int = 3,
        reconcile_retry_s: float = 2.0,
        reconcile_timeout: float = 10.0,
    ) -> None:
        self.client = client
        self.agi = AsyncAgi(client)
        self.menu = menu
        self.recorder = recorder
        self.resume_timeout = resume_timeout
        self.reconcile_attempts, self.reconcile_retry_s = reconcile_attempts, reconcile_retry_s
        self.reconcile_timeout = reconcile_timeout
        # set while our view of calls is in line with Asterisk's: cleared when the connection
        # is lost, set again by the reconciliation after the reconnection (sessions wait on it)
        self._reconciled = asyncio.Event()
        self._reconciled.set()
        self.services = services
        self.calls: dict[str, Call] = {}  # by the caller channel's uniqueid
        self.sessions_started = 0
        self.reconciliations = 0
        self.adopted = 0  # calls taken over from an earlier bridge (ivr.recovery)
        # the last channels hung up that no call followed: not adopted if an adoption was
        # being planned when their Hangup came
        self._gone: deque[str] = deque(maxlen=512)
        # linkedids of calls that ended lately: a queue call's end may come after the hang-up
        self._ended: deque[str] = deque(maxlen=512)
        # the first loss of the AMI connection since the last reconciliation: when (the clock
        # of the contact events) and on time.monotonic()'s scale (to compare with Asterisk's
        # uptime)
        self._lost_at: datetime | None = None
        self._lost_mono: float | None = None
        client.on(AsyncAgiStart, self._on_agi_start)
        client.on(Hangup, self._on_hangup)
        client.on(QueueEvent, self._on_queue_event)
        client.on_ready(self.reconcile)
        client.on_disconnect(self._on_disconnect)

    # -- helpers --------------------------------------------------------------------------

    def _record(self, linkedid: str, record: EventRecord, key: str = "") -> None:
        self.recorder.record(ContactEvent(linkedid, record, at=self.services.clock(), key=key))

    def _by_linkedid(self, linkedid: str) -> Call | None:
        for call in self.calls.values():
            if call.linkedid == linkedid:
                return call
        return None

    async def _wait_reconnect(self, call: Call) -> None:
        """A session of ``call`` hit AMI trouble: wait, at most ``resume_timeout``, until the
        reconciliation after the reconnection has run. Returns when the call's channel is still
        there (the session resumes); raises ChannelHungUp when the reconciliation found it gone
        (it ended the contact), AmiNotConnected when none came in time (the session ends; the
        call stays known, and the next reconciliation ends or resumes it)."""
        try:
            await asyncio.wait_for(self._reconciled.wait(), self.resume_timeout)
        except TimeoutError:
            raise AmiNotConnected(
                f"no reconciliation within {self.resume_timeout} s") from None
        if self.calls.get(call.uniqueid) is not call:
            raise ChannelHungUp(f"{call.channel}: gone during the AMI outage")

    def _start_session(self, call: Call, env: dict[str, str], resumed: bool = False,
                       start_node: str | None = None,
                       reason: str = "orphaned AsyncAGI channel after reconnect") -> None:
        channel = AgiChannel(self.agi, call.channel, call.uniqueid, call.linkedid, env)
        menu = self.menu()
        # a call coming back from the dialplan names its entry point: AGI(agi:async,<entry>)
        entry = env.get("agi_arg_1", "")
        start = menu.entries.get(entry) if entry else None
        if entry and start is None:
            log.warning("unknown menu entry %r for %s; starting at the top", entry, call.channel)
        session = MenuSession(menu, channel, self.recorder, self.services,
                              lambda: self._wait_reconnect(call), start_node=start_node or start)
        if resumed:
            self._record(call.linkedid, Resumed(node=session.node_id, reason=reason))
        self.sessions_started += 1
        task = asyncio.get_running_loop().create_task(self._run_session(call, session),
                                                      name=f"menu {call.linkedid}")
        call.session = task

    async def _run_session(self, call: Call, session: MenuSession) -> None:
        try:
            await session.run()
        except Exception:
            log.exception("menu session of %s failed", call.linkedid)
            self._record(call.linkedid, IvrHangup(node=session.node_id,
                         reason="internal_error"))
            try:
                await session.channel.hangup()
            except Exception:
                log.warning("could not hang up %s", call.channel)

    # -- event handlers -------------------------------------------------------------------

    def _on_agi_start(self, event: AsyncAgiStart) -> None:
        if event.uniqueid in self.calls:
            call = self.calls[event.uniqueid]
            if call.session is not None and not call.session.done():
                log.warning("second AsyncAGIStart for %s ignored", event.channel)
                return
        else:
            caller = event.env.get("agi_callerid", "") or event.caller_id_num
            call = Call(event.linkedid, event.uniqueid, event.channel, caller)
            self.calls[event.uniqueid] = call
            # keyed by the channel, not the moment: a bridge that finds the channel again
            # (a restart, a second AsyncAGIStart) derives the same event, stored once
            self._record(call.linkedid, CallStarted(
                caller=caller, channel=event.channel, uniqueid=event.uniqueid,
                dnid=event.env.get("agi_dnid", ""),
                extension=event.env.get("agi_extension", "")),
                key=channel_key(EventKind.CALL_STARTED, event.uniqueid))
        self.agi.forget(event.channel)
        self._start_session(call, dict(event.env))

    def _on_hangup(self, event: Hangup) -> None:
        call = self.calls.pop(event.uniqueid, None)
        if call is None:
            self._gone.append(event.uniqueid)
            return
        self._record(call.linkedid, CallEnded(cause=event.cause,
                     cause_txt=event.cause_txt, reconciled=False))
        self._ended.append(call.linkedid)
        self.agi.forget(event.channel)

    def _on_queue_event(self, event: QueueEvent) -> None:
        call = self.calls.get(event.uniqueid) or self._by_linkedid(event.linkedid)
        consult_leg = event.channel.startswith("Local/") and isinstance(
            event, QueueCallerJoin | AgentCalled | AgentConnect | AgentComplete)
        if call is None:
            # the expert's leg may end after the caller's call is gone (the caller hung up
            # first): its end is still the contact's, on the Local channel or, once Asterisk
            # optimised the Local pair away, on the caller's
            if isinstance(event, AgentComplete) and event.linkedid and (
                    consult_leg or event.linkedid in self._ended):
                self._agent_leg(event.linkedid, event)
            return
        if call.uniqueid != event.uniqueid:
            # the agents' consultation leg of the call (callcenter/agents/consult.py): a Local
            # channel queueing for the expert seat; the expert's part is the contact's too
            if consult_leg:
                self._agent_leg(call.linkedid, event, consult=True)
            return
        agent = event.member_name or event.member
        if isinstance(event, QueueCallerJoin):
            call.queue = event.queue
            self._record(call.linkedid, QueueJoined(queue=event.queue,
                         position=event.position))
        elif isinstance(event, AgentCalled | AgentConnect | AgentComplete):
            if isinstance(event, AgentConnect):
                call.agent = agent
            self._agent_leg(call.linkedid, event)
        elif isinstance(event, QueueCallerAbandon):
            self._record(call.linkedid, QueueAbandoned(queue=event.queue,
                         hold_time=event.hold_time, position=event.position))

    def _agent_leg(self, linkedid: str, event: QueueEvent, *, consult: bool = False) -> None:
        agent = event.member_name or event.member
        if isinstance(event, QueueCallerJoin):
            # the consultation's Local leg entering the expert queue: an offer of that queue,
            # not the caller's (the caller waits with the first agent's call, on hold)
            self._record(linkedid, QueueJoined(queue=event.queue, position=event.position,
                                               consult=True))
        elif isinstance(event, AgentCalled):
            self._record(linkedid, AgentRinging(queue=event.queue, agent=agent))
        elif isinstance(event, AgentConnect):
            self._record(linkedid, AgentConnected(queue=event.queue,
                         agent=agent, hold_time=event.hold_time, ring_time=event.ring_time,
                         consult=consult or None))
        elif isinstance(event, AgentComplete):
            self._record(linkedid, AgentCompleted(queue=event.queue,
                         agent=agent, talk_time=event.talk_time, hold_time=event.hold_time,
                         reason=event.reason))

    # -- reconciliation -------------------------------------------------------------------

    def _on_disconnect(self) -> None:
        self._reconciled.clear()
        if self._lost_at is None:
            self._lost_at, self._lost_mono = self.services.clock(), time.monotonic()

    def _crash_moment(self) -> datetime | None:
        """When the connection was lost, if the Asterisk we are connected to now started after
        that (it crashed or was restarted: its channels ended then); None when the same
        Asterisk ran on (a channel gone meanwhile ended at some unknown moment)."""
        booted = self.client.booted_at
        if self._lost_mono is None or booted is None or booted < self._lost_mono:
            return None
        return self._lost_at

    def _end_reconciled(self, linkedid: str, why: str, crashed_at: datetime | None) -> None:
        self.recorder.record(ContactEvent(
            linkedid, CallEnded(cause=0, cause_txt=why, reconciled=True,
                                asterisk_restarted=crashed_at is not None),
            at=crashed_at or self.services.clock()))

    async def reconcile(self) -> None:
        """Bring our view of calls in line with Asterisk's after a (re)connection.

        ``CoreShowChannels`` is tried ``reconcile_attempts`` times while the connection
        holds (a loaded Asterisk may answer late); a reconnection runs it again anyway.

        Calls go on arriving meanwhile: one whose start is seen after the list was asked for
        may be missing from it, and one that started while the open contacts are read is
        open in the log but was not known before. Neither has vanished: only calls known
        before the list was asked for, and contacts of no call known after the log was read,
        are ended here (a call that came in during a start-up reconciliation was logged as
        ended at once, cause 0, while it went on)."""
        response: object = None
        asked_about: set[str] = set()
        for attempt in range(1, self.reconcile_attempts + 1):
            asked_about = set(self.calls)
            try:
                response = await self.client.send_action({"Action": "CoreShowChannels"},
                                                         as_list=True,
                                                         timeout=self.reconcile_timeout)
                break
            except AmiError as exc:
                if attempt == self.reconcile_attempts or not self.client.ready:
                    log.warning("CoreShowChannels failed (%s); reconciliation skipped until "
                                "the next connection", exc)
                    return
                log.warning("CoreShowChannels failed (%s); trying again", exc)
                await asyncio.sleep(self.reconcile_retry_s)
        self.reconciliations += 1
        messages = response if isinstance(response, list) else []
        live: dict[str, dict[str, str]] = {}
        for message in messages:
            if str(message.get("Event", "")).lower() == "coreshowchannel":
                live[str(message.get("Uniqueid", ""))] = {
                    k.lower(): str(v) for k, v in message.items()
                }
        live_linkedids = {info.get("linkedid", "") for info in live.values()}
        crashed_at = self._crash_moment()
        why = ("Asterisk restarted while AMI was disconnected" if crashed_at
               else "channel vanished while AMI was disconnected")
        for uniqueid, call in list(self.calls.items()):
            info = live.get(uniqueid)
            if info is None and uniqueid not in asked_about:
                continue  # it started after the list was asked for: live, not in it
            if info is None:
                self.calls.pop(uniqueid, None)
                self.agi.channel_gone(call.channel)  # a session still on it ends
                self._end_reconciled(call.linkedid, why, crashed_at)
                continue
            if info.get("application", "").lower() == "agi" and (
                call.session is None or call.session.done()
            ):
                self.agi.forget(call.channel)
                self._start_session(call, {"agi_callerid": call.caller}, resumed=True)
            elif call.queue and not call.agent and info.get("bridgeid"):
                call.agent = "unknown"
                self._record(call.linkedid, AgentConnected(queue=call.queue,
                             agent="unknown", hold_time=0, ring_time=0, resynced=True))
        self._reconciled.set()  # every known call is now resumed or ended: sessions go on
        open_linkedids = await self.recorder.open_contacts()
        # after the read: a call that started while the log was read is open there, and known
        known = {call.linkedid for call in self.calls.values()}
        for linkedid in open_linkedids:
            if linkedid not in known and linkedid not in live_linkedids:
                self._end_reconciled(linkedid, "channel vanished while the bridge was away",
                                     None)
        # calls we never saw start (the bridge restarted): taken over where they are
        for plan in await plan_adoptions(live_channels(messages), set(self.calls), known,
                                         set(open_linkedids), self.recorder, self.menu()):
            found = plan.channel
            if found.uniqueid in self.calls:  # it started while the history was read
                continue
            if found.uniqueid in self._gone:  # it hung up meanwhile
                if found.linkedid in open_linkedids:
                    self._end_reconciled(found.linkedid, "hung up while the bridge adopted it",
                                         None)
                continue
            call = Call(found.linkedid, found.uniqueid, found.channel, plan.caller,
                        queue=plan.queue, agent=plan.agent)
            self.calls[found.uniqueid] = call
            self.adopted += 1
            # the original call_started's key: stored only if that one never was
            self._record(call.linkedid, CallStarted(
                caller=call.caller, channel=call.channel, uniqueid=call.uniqueid,
                adopted=True), key=channel_key(EventKind.CALL_STARTED, call.uniqueid))
            if plan.node is not None:
                self.agi.forget(call.channel)
                self._start_session(call, {"agi_callerid": call.caller}, resumed=True,
                                    start_node=plan.node, reason=RESTART_REASON)
        self._lost_at = self._lost_mono = None
