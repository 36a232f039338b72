"""The desk's AMI consumer: what Asterisk tells moves the agents and the board along.

``QueueCallerJoin`` / ``QueueCallerLeave`` / ``QueueCallerAbandon``: the waiting callers (the
board; an abandoned caller's ringing agent is ready again). ``AgentCalled`` -> ringing (the
call card is published), ``AgentConnect`` -> on call, ``AgentComplete`` -> wrap-up,
``AgentRingNoAnswer`` -> ready. The ``Hangup`` of an agent's own leg of a queue call ends the
call for the agent too, whichever comes first: after a blind transfer (the caller redirected to
another queue) Asterisk sends the first agent's ``AgentComplete`` only when the caller's
channel ends, minutes later, and the agent would have stayed 通话中 meanwhile; an
``AgentComplete`` for a call the agent is no longer on changes nothing. ``DialBegin`` /
``DialEnd`` / ``Hangup``: a named agent's consultation call (callcenter/agents/consult.py).
``QueueMemberStatus`` reporting a pause we did not make (CLI, another tool) is taken over.
``UserEvent(HotlineCallback)``: a waiting caller accepted the queue's callback offer. The AMI
client runs each handler as its own task, so the events of one agent are taken one at a time,
in the order Asterisk sent them (a lock per agent): the ringing card, built from the database,
is published before the ``connected`` that followed it even when the agent answers while the
card is still being built. After every AMI (re)connection :meth:`DeskEvents.resync` pushes the
queue configuration and restores each agent's membership and pause from our state
(``QueueStatus`` tells what Asterisk has); a call that ended out of sight (Asterisk crashed or
restarted) ends for the desk too (a hold it had ends with it), callers no longer in a queue
leave the board, and holds a restart of the desk forgot end with the caller back to the agent
(:meth:`callcenter.agents.hold.CallHold.recover`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from callcenter.agents.cards import CallCards
from callcenter.agents.consult import ConsultTransfer
from callcenter.agents.hold import CallHold
from callcenter.agents.members import QueueMembers
from callcenter.agents.models import AgentState
from callcenter.agents.notifier import DeskNotifier
from callcenter.agents.state import (
    EXTERNAL_PAUSE,
    RESERVED_REASONS,
    WRAP_UP_REASON,
    Agent,
    AgentStore,
    DeskError,
    Waiting,
)
from callcenter.agents.transitions import AgentTransitions
from callcenter.queues.services import QueueService
from ivr.ami.client import AmiClient, AmiError
from ivr.ami.events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentRingNoAnswer,
    AmiEvent,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    QueueEvent,
)
from ivr.clock import Clock
from ivr.events import CallbackRequested, OutcomeSet
from ivr.ports import ContactEvent, ContactRecorder

log = logging.getLogger(__name__)


class CallbackTaker(Protocol):
    """Creates a callback request (``callcenter.tickets``; the IVR's BookingDesk shape)."""

    async def request_callback(self, number: str, linkedid: str, reason: str) -> Any: ...


# the events :meth:`DeskEvents.on_any_event` reads besides the queue's: a member's pause, the
# dialplan's callback offer, the named agent's leg of a consultation (DeskEvents.consult may
# be attached after the subscription)
OTHER_EVENTS = ("QueueMemberStatus", "UserEvent", "DialBegin", "DialEnd", "Hangup")


class DeskEvents:
    def __init__(self, store: AgentStore, transitions: AgentTransitions,
                 members: QueueMembers, notify: DeskNotifier, cards: CallCards,
                 queues: QueueService, *, clock: Clock,
                 recorder: ContactRecorder | None = None,
                 callbacks: CallbackTaker | None = None, hold: CallHold | None = None,
                 consult: ConsultTransfer | None = None) -> None:
        self.store = store
        self.consult = consult
        self.hold = hold
        self.transitions = transitions
        self.members = members
        self.notify = notify
        self.cards = cards
        self.queues = queues
        self.clock = clock
        self.recorder = recorder
        self.callbacks = callbacks
        self.callbacks_taken = 0
        self.resyncs = 0
        # one lock per agent: asyncio.Lock is fair, and each handler task asks for it before
        # its first await, so an agent's queue events are applied in the order they came
        self._order: dict[str, asyncio.Lock] = {}

    def subscribe(self, ami: AmiClient) -> None:
        ami.on(QueueEvent, self.on_queue_event)
        ami.on(AmiEvent, self.on_any_event, names=OTHER_EVENTS)
        ami.on_ready(self.resync)

    # -- queue events ---------------------------------------------------------------------

    def _agent_of(self, event: QueueEvent) -> Agent | None:
        agents = self.store.agents
        if event.member_name in agents:
            return agents[event.member_name]
        for agent in agents.values():
            if agent.interface and agent.interface == event.member:
                return agent
        return None

    async def on_queue_event(self, event: QueueEvent) -> None:
        store, set_state = self.store, self.transitions.set
        if isinstance(event, QueueCallerJoin):
            store.waiting[event.uniqueid] = Waiting(event.linkedid, event.queue,
                                                    event.caller_id_num, self.clock())
            self.notify.queue_board(store.board())
            return
        if isinstance(event, QueueCallerLeave | QueueCallerAbandon):
            store.waiting.pop(event.uniqueid, None)
            self.notify.queue_board(store.board())
            if isinstance(event, QueueCallerAbandon):
                # an agent busy with an earlier event may not know the call yet: wait for it
                for ringing in [a for a in store.agents.values()
                                if a.linkedid == event.linkedid
                                or self._lock(a.username).locked()]:
                    async with self._lock(ringing.username):
                        if (ringing.linkedid == event.linkedid
                                and ringing.state is AgentState.RINGING):
                            await set_state(ringing, AgentState.READY, None, by=None)
                            self.notify.call_abandoned(ringing.username, event.linkedid)
            return
        agent = self._agent_of(event)
        if agent is None:
            return
        async with self._lock(agent.username):
            await self._agent_event(agent, event)

    def _lock(self, username: str) -> asyncio.Lock:
        lock = self._order.get(username)
        if lock is None:
            lock = self._order[username] = asyncio.Lock()
        return lock

    async def _agent_event(self, agent: Agent, event: QueueEvent) -> None:
        store, set_state = self.store, self.transitions.set
        username = agent.username
        if isinstance(event, AgentCalled):
            if agent.state is AgentState.ON_CALL:
                return
            agent.linkedid, agent.queue = event.linkedid, event.queue
            agent.caller, agent.caller_channel = event.caller_id_num, event.channel
            await set_state(agent, AgentState.RINGING, None, by=None, linkedid=event.linkedid)
            waiting = store.waiting.get(event.uniqueid)
            card = await self.cards.build(event.linkedid, event.caller_id_num, event.queue,
                                          waiting.since if waiting else None)
            self.notify.call_ringing(username, card)
        elif isinstance(event, AgentConnect):
            agent.linkedid, agent.queue = event.linkedid, event.queue
            agent.caller, agent.caller_channel = event.caller_id_num, event.channel
            agent.agent_channel = event.header("DestChannel") or None
            await set_state(agent, AgentState.ON_CALL, None, by=None, linkedid=event.linkedid)
            self.notify.call_connected(username, event.linkedid, event.queue, event.hold_time)
            if self.consult is not None:  # the expert answering a consultation
                self.consult.expert_connected(agent, event.linkedid, event.queue)
        elif isinstance(event, AgentComplete):
            # (already over when the agent's own leg hung up first: _agent_leg_ended)
            if (agent.state is not AgentState.ON_CALL
                    or agent.linkedid not in (None, event.linkedid)):
                return
            await self._call_over(agent, event.linkedid, event.talk_time, event.reason)
        elif isinstance(event, AgentRingNoAnswer) and agent.state is AgentState.RINGING:
            await set_state(agent, AgentState.READY, None, by=None)
            self.notify.call_missed(username, event.linkedid)

    async def _call_over(self, agent: Agent, linkedid: str, talk_time: int | None,
                         reason: str) -> None:
        """The agent's queue call ended: wrap-up, the card told; the caller holds the
        agent's lock."""
        if self.hold is not None:  # the call ended on hold: the music stops
            await self.hold.release(agent)
        if self.consult is not None:  # a consultation of this call ends with it
            self.consult.call_ended(agent, linkedid)
            self.consult.expert_left(agent, linkedid)  # or its expert hung up
        await self.transitions.enter_wrapup(agent, linkedid)
        self.notify.call_completed(agent.username, linkedid, talk_time, reason)

    async def _agent_leg_ended(self, agent: Agent, channel: str) -> None:
        """The ``Hangup`` of ``agent``'s own leg of a queue call (``AgentConnect``'s
        DestChannel). A named agent's consultation and a callback are followed by their own
        code (consult.py, outbound/dialler.py)."""
        async with self._lock(agent.username):
            if (agent.agent_channel != channel or agent.state is not AgentState.ON_CALL
                    or agent.linkedid is None
                    or agent.reason in RESERVED_REASONS):
                return
            talk = round(max(0.0, (self.clock() - agent.since).total_seconds()))
            await self._call_over(agent, agent.linkedid, talk, "agent")

    # -- member status, callback offers ---------------------------------------------------

    async def on_any_event(self, event: AmiEvent) -> None:
        name = event.name.lower()
        if name == "hangup":
            channel = event.header("Channel")
            agent = next((a for a in self.store.agents.values()
                          if a.agent_channel == channel), None) if channel else None
            if agent is not None:  # (takes the agent's lock before its first await)
                await self._agent_leg_ended(agent, channel)
        if self.consult is not None and name in (
                "dialbegin", "dialend", "hangup"):  # a named agent's consultation call
            await self.consult.on_event(event)
            return
        if name == "userevent" and event.header("UserEvent") == "HotlineCallback":
            await self._callback_from_queue(event)
            return
        if name != "queuememberstatus":
            return
        agent = self.store.agents.get(event.header("MemberName"))
        if agent is None:
            return
        paused = event.header("Paused") == "1"
        reason = event.header("PausedReason") or None
        if agent.state is AgentState.READY and paused and reason != WRAP_UP_REASON:
            # paused outside the console (CLI, another tool): show it
            await self.transitions.set(agent, AgentState.PAUSED, reason or EXTERNAL_PAUSE,
                                       by=None)
        elif agent.state is AgentState.PAUSED and not paused and reason is None and (
                agent.reason == EXTERNAL_PAUSE):
            await self.transitions.set(agent, AgentState.READY, None, by=None)

    async def _callback_from_queue(self, event: AmiEvent) -> None:
        """A caller waiting in a queue pressed 1 after the callback offer."""
        number = event.header("Number") or event.header("CallerIDNum")
        linkedid = event.header("Linkedid") or event.header("Uniqueid")
        queue = event.header("Queue")
        if self.callbacks is None:
            log.error("callback offer accepted by %s but no callback service is wired", number)
            return
        confirmation = await self.callbacks.request_callback(number, linkedid,
                                                            f"排队等待过长（{queue}）")
        self.callbacks_taken += 1
        if self.recorder is not None and linkedid:
            self.recorder.record(ContactEvent(linkedid, CallbackRequested(
                callback_id=getattr(confirmation, "callback_id", None), number=number,
                queue=queue, via="queue_offer"), at=self.clock()))
            self.recorder.record(ContactEvent(linkedid, OutcomeSet(outcome="callback_requested"),
                                              at=self.clock()))
        self.notify.callback_offered(number, queue)

    # -- resynchronisation ----------------------------------------------------------------

    async def resync(self) -> None:
        """After a (re)connection: push the queue configuration, then restore every agent's
        membership and pause in Asterisk from our state."""
        if self.members.ami is None:
            return
        try:
            await self.members.push_config()
        except Exception:
            log.exception("queue configuration push failed")
        try:
            status = await self.members.status()
        except AmiError:
            log.exception("QueueStatus failed; agent resync skipped")
            return
        store = self.store
        gone = [uniqueid for uniqueid in store.waiting if uniqueid not in status.queued]
        if gone:  # they left while we could not see it (e.g. Asterisk restarted)
            for uniqueid in gone:
                del store.waiting[uniqueid]
            self.notify.queue_board(store.board())
        await asyncio.to_thread(store.load)
        async with self.transitions.lock:
            for agent in list(store.agents.values()):
                try:
                    await self._restore(agent, status.members)
                except DeskError as exc:
                    log.warning("resync of %s: %s", agent.username, exc)
        await self._recover_holds()
        self.resyncs += 1
        self.notify.agents_resynced(self.resyncs)

    async def _recover_holds(self) -> None:
        """Holds a restart forgot (Asterisk still plays the music): the caller back to the
        agent (callcenter/agents/hold.py, :meth:`CallHold.recover`)."""
        if self.hold is not None:
            await self.hold.recover(list(self.store.agents.values()))

    async def _restore(self, agent: Agent, present: dict[tuple[str, str], dict[str, str]]
                       ) -> None:
        if agent.interface is None:
            return
        mine = {q for (q, iface) in present if iface == agent.interface}
        if agent.state is AgentState.LOGGED_OUT:
            for queue in mine:
                await self.members.remove(agent, queue, ok_messages=("not there",))
            return
        memberships = await asyncio.to_thread(self.queues.memberships, agent.username)
        agent.queues = [m.queue for m in memberships]
        # paused: by the agent, in wrap-up, or calling a taxpayer back (ringing or on the
        # callback: an unpause would let the queue offer a caller to a busy agent)
        callback = (agent.state in (AgentState.RINGING, AgentState.ON_CALL)
                    and agent.reason in RESERVED_REASONS)
        paused = agent.state in (AgentState.PAUSED, AgentState.WRAP_UP) or callback
        for membership in memberships:
            if membership.queue not in mine:
                await self.members.add(agent, membership, paused, agent.reason)
        await self.members.pause(agent, paused, agent.reason if paused else None)
        # a call may have ended while we could not see it
        in_call = any(p.get("incall") == "1" or p.get("status") in ("2", "6", "7")
                      for (_q, iface), p in present.items() if iface == agent.interface)
        # (a callback is no queue call: its dialler follows it, and its preview rings nothing;
        # nor is a named agent's consultation call: callcenter/agents/consult.py follows it)
        if agent.state in (AgentState.RINGING, AgentState.ON_CALL) and not in_call and (
                not callback):
            if self.hold is not None:  # lost on hold: the hold ends as at any call's end
                await self.hold.release(agent)
            await self.transitions.call_lost(agent)
