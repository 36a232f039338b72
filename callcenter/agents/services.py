"""The agent desk: agent states kept in step with Asterisk's queue membership.

The console asks (:meth:`AgentDesk.go_ready`, :meth:`~AgentDesk.pause`,
:meth:`~AgentDesk.log_out`, :meth:`~AgentDesk.transfer`: the requests that
callcenter/agents/front.py and, across processes, callcenter/agents/commands.py route here); the
desk checks the transition, sends ``QueueAdd`` / ``QueuePause`` / ``QueueRemove`` /
``Redirect`` and only then changes the state. Its parts, one responsibility each, put together by
:meth:`AgentDesk.build` (called by the composition root, callcenter/runtime.py):

* :class:`callcenter.agents.state.AgentStore`: the agents and waiting callers, the board, and the
  desk's tables (``agent_states``, ``agent_state_log``, ``audit_log``, ``call_notes``);
* :class:`callcenter.agents.members.QueueMembers`: the AMI actions sent;
* :class:`callcenter.agents.events.DeskEvents`: the AMI events consumed (and the resync after
  every AMI (re)connection);
* :class:`callcenter.agents.transitions.AgentTransitions`: a state change (memory, notification,
  tables) and wrap-up, whatever its cause;
* :class:`callcenter.agents.notifier.DeskNotifier`: one method per notification published;
* :class:`callcenter.agents.cards.CallCards`: the call card.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from callcenter.agents.cards import CallCards
from callcenter.agents.consult import ConsultTransfer
from callcenter.agents.events import CallbackTaker, DeskEvents
from callcenter.agents.hold import CallHold
from callcenter.agents.members import QueueMembers
from callcenter.agents.models import AgentState, CallNote
from callcenter.agents.monitor import CallMonitor
from callcenter.agents.notifier import DeskNotifier
from callcenter.agents.state import (
    ALLOWED,
    STAFF_ROLES,
    STATE_TITLES,
    WRAP_UP_REASON,
    Agent,
    AgentStore,
    DeskError,
    Waiting,
)
from callcenter.agents.transitions import AgentTransitions
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.notify.messages import CallRinging, QueueBoard
from callcenter.notify.services import Notifier
from callcenter.queues.services import QueueService
from callcenter.taxpayers.services import TaxpayerService
from ivr.ami.client import AmiClient
from ivr.clock import Clock
from ivr.events import AgentTransfer, Json
from ivr.ports import ContactEvent, ContactRecorder

# the names other modules imported from here before the desk was split
__all__ = ["ALLOWED", "STAFF_ROLES", "STATE_TITLES", "WRAP_UP_REASON", "Agent", "AgentDesk",
           "CallbackTaker", "DeskError", "Waiting"]


class AgentDesk:
    """The console's requests on the agents of this process (or of this bridge's node)."""

    def __init__(self, store: AgentStore, members: QueueMembers,
                 transitions: AgentTransitions, events: DeskEvents, cards: CallCards,
                 queues: QueueService, contacts: ContactService, *, clock: Clock,
                 recorder: ContactRecorder | None = None, hold: CallHold | None = None,
                 monitor: CallMonitor | None = None,
                 consult: ConsultTransfer | None = None) -> None:
        self.store = store
        self.hold = hold or CallHold(members, events.notify, clock=clock, recorder=recorder)
        self.consult = consult or ConsultTransfer(
            store, members, queues, events.notify.notifier, self.hold, clock=clock,
            recorder=recorder, transitions=transitions, cards=cards, notify=events.notify)
        if events.consult is None:
            events.consult = self.consult
        self.monitor = monitor or CallMonitor(store, members)
        self.members = members
        self.transitions = transitions
        self.events = events
        self.cards = cards
        self.queues = queues
        self.contacts = contacts
        self.clock = clock
        self.recorder = recorder

    @classmethod
    def build(cls, db: Database, queues: QueueService, notifier: Notifier,
              contacts: ContactService, recorder: ContactRecorder | None = None,
              ami: AmiClient | None = None, wrapup_seconds: float = 10.0,
              callbacks: CallbackTaker | None = None, *, clock: Clock,
              node_labels: Callable[[], Mapping[str, str]] | None = None,
              node: str | None = None, default_node: str = "pbx1",
              dialer: AmiClient | None = None, consult_ring_s: float = 30.0) -> AgentDesk:
        """The desk and its parts, wired once; with ``ami``, its events are followed.
        ``node``: a bridge of one Asterisk node keeps only that node's agents (``users.node``,
        None meaning ``default_node``); None: every agent (one process). ``node_labels``: the
        running menu's Chinese node titles, for the call card."""
        store = AgentStore(db, clock, node=node, default_node=default_node)
        members = QueueMembers(ami, queues, dialer)
        notify = DeskNotifier(notifier)
        transitions = AgentTransitions(store, members, notify, clock=clock,
                                       wrapup_seconds=wrapup_seconds)
        cards = CallCards(contacts, clock, recorder, node_labels,
                          registered=TaxpayerService(db, clock).registered, notes=store.notes)
        hold = CallHold(members, notify, clock=clock, recorder=recorder)
        consult = ConsultTransfer(store, members, queues, notifier, hold, clock=clock,
                                  recorder=recorder, ring_s=consult_ring_s,
                                  transitions=transitions, cards=cards, notify=notify)
        events = DeskEvents(store, transitions, members, notify, cards, queues, clock=clock,
                            recorder=recorder, callbacks=callbacks, hold=hold, consult=consult)
        if ami is not None:
            events.subscribe(ami)
        return cls(store, members, transitions, events, cards, queues, contacts, clock=clock,
                   recorder=recorder, hold=hold, monitor=CallMonitor(store, members),
                   consult=consult)

    # -- reading --------------------------------------------------------------------------

    @property
    def db(self) -> Database:
        return self.store.db

    @property
    def agents(self) -> dict[str, Agent]:
        return self.store.agents

    def load(self) -> None:
        """Agents and their last known state from the database (at start-up)."""
        self.store.load()

    def agent(self, username: str) -> Agent:
        return self.store.agent(username)

    def board(self) -> QueueBoard:
        return self.store.board()

    async def call_card(self, linkedid: str, caller: str, queue: str,
                        waiting_since: datetime | None) -> CallRinging:
        return await self.cards.build(linkedid, caller, queue, waiting_since)

    # -- requests from the console --------------------------------------------------------

    def _check(self, agent: Agent, request: str) -> None:
        if agent.state not in ALLOWED[request]:
            verb = {"ready": "切换为就绪", "pause": "暂停", "logout": "签出"}[request]
            raise DeskError(f"当前状态「{STATE_TITLES[agent.state]}」不能{verb}", 409)

    async def change(self, username: str, state: str, reason: str | None, *,
                     by: str) -> dict[str, Json]:
        """``state``: ``ready``, ``paused`` (with ``reason``) or ``logged_out``; the agent
        afterwards, as JSON."""
        if state == "ready":
            agent = await self.go_ready(username, by=by)
        elif state == "paused":
            if not reason:
                raise DeskError("暂停需要填写原因 reason", 422)
            agent = await self.pause(username, reason, by=by)
        else:
            agent = await self.log_out(username, by=by)
        return agent.as_json()

    async def go_ready(self, username: str, *, by: str) -> Agent:
        transitions = self.transitions
        async with transitions.lock:
            agent = self.agent(username)
            self._check(agent, "ready")
            if agent.state is AgentState.READY:
                return agent
            if agent.interface is None:
                raise DeskError("该坐席未配置话机（interface），请联系管理员", 409)
            if agent.state is AgentState.LOGGED_OUT:
                memberships = await asyncio.to_thread(self.queues.memberships, username)
                if not memberships:
                    raise DeskError("该坐席没有任何技能队列，请联系管理员配置技能", 409)
                for membership in memberships:
                    await self.members.add(agent, membership, False, None)
                agent.queues = [m.queue for m in memberships]
            else:
                transitions.cancel_wrapup(username)
                await self.members.pause(agent, False, None)
            await transitions.set(agent, AgentState.READY, None, by=by)
            return agent

    async def pause(self, username: str, reason: str, *, by: str) -> Agent:
        transitions = self.transitions
        async with transitions.lock:
            agent = self.agent(username)
            self._check(agent, "pause")
            titles = {r.code: r.title for r in await asyncio.to_thread(self.queues.pause_reasons)}
            title = titles.get(reason) or (reason if reason in titles.values() else None)
            if title is None:
                raise DeskError(f"未知的暂停原因：{reason}", 422)
            transitions.cancel_wrapup(username)
            await self.members.pause(agent, True, title)
            await transitions.set(agent, AgentState.PAUSED, title, by=by)
            return agent

    async def log_out(self, username: str, *, by: str) -> Agent:
        transitions = self.transitions
        async with transitions.lock:
            agent = self.agent(username)
            self._check(agent, "logout")
            if agent.state is AgentState.LOGGED_OUT:
                return agent
            transitions.cancel_wrapup(username)
            assert agent.interface is not None
            queues = agent.queues or [m.queue for m in await asyncio.to_thread(
                self.queues.memberships, username)]
            for queue in queues:
                await self.members.remove(agent, queue,
                                          ok_messages=("not there", "unable to remove"))
            agent.queues = []
            await transitions.set(agent, AgentState.LOGGED_OUT, None, by=by)
            return agent

    async def transfer(self, username: str, queue: str, *, by: str) -> Agent:
        """Send the agent's caller to another queue (AMI Redirect to hotline-queue)."""
        agent = self.agent(username)
        if agent.state is not AgentState.ON_CALL or not agent.caller_channel:
            raise DeskError("当前没有通话，不能转接", 409)
        config = await asyncio.to_thread(self.queues.queue, queue)
        if config is None or not config.active:
            raise DeskError(f"队列 {queue} 不存在或未启用", 422)
        if queue == agent.queue:
            raise DeskError("不能转接到当前所在队列", 422)
        self._not_consulting(agent, "转接")
        linkedid = agent.linkedid
        await self.hold.release(agent)  # a held caller goes on without the music
        await self.members.redirect(agent.caller_channel, queue)
        if self.recorder is not None and linkedid:
            self.recorder.record(ContactEvent(linkedid, AgentTransfer(
                agent=username, from_queue=agent.queue, to_queue=queue), at=self.clock()))
        await asyncio.to_thread(self.store.audit, by, "call.transfer", username,
                                linkedid=linkedid, to_queue=queue)
        return agent

    async def hold_call(self, username: str) -> Agent:
        """Put the agent's caller on hold (music on hold; callcenter/agents/hold.py)."""
        agent = self.agent(username)
        self._not_consulting(agent, "保持")
        return await self.hold.hold(agent)

    def _not_consulting(self, agent: Agent, what: str) -> None:
        """While the agent consults, the caller already waits on Asterisk's transfer hold."""
        if agent.username in self.consult.active:
            raise DeskError(f"咨询转接进行中，不能{what}；请先完成转接、三方通话或取消", 409)

    async def resume_call(self, username: str) -> tuple[Agent, float]:
        """Take the held caller back; the agent and the seconds the hold lasted."""
        agent = self.agent(username)
        return agent, await self.hold.resume(agent)

    async def consult_call(self, username: str, action: str, queue: str | None = None,
                           notes: str | None = None, named: str | None = None
                           ) -> dict[str, Json]:
        """A step of the agent's consultative transfer (callcenter/agents/consult.py):
        ``start`` (towards ``queue``, default the expert seat, or the agent ``named``),
        ``complete``, ``conference`` or ``cancel``; the consultation afterwards."""
        agent = self.agent(username)
        if action == "start":
            return await self.consult.start(agent, queue, notes=notes, named=named)
        if action == "complete":
            return await self.consult.complete(agent)
        if action == "conference":
            return await self.consult.conference(agent)
        if action == "cancel":
            return await self.consult.cancel(agent)
        raise DeskError(f"未知的咨询转接操作：{action}", 422)

    async def monitor_call(self, username: str, mode: str, *, supervisor: str,
                           interface: str | None) -> dict[str, Json]:
        """Dial ``supervisor``'s phone into ``username``'s live call (listen, whisper,
        barge; callcenter/agents/monitor.py), audited."""
        return await self.monitor.join(self.agent(username), mode, supervisor=supervisor,
                                       interface=interface)

    async def push_queues(self) -> bool:
        """The queue configuration to Asterisk; False when it is not connected."""
        return await self.members.push_queues()

    async def resync(self) -> None:
        """Bring Asterisk's membership and pauses in line with our state (done after every AMI
        (re)connection)."""
        await self.events.resync()

    # -- notes and dispositions -----------------------------------------------------------

    def save_note(self, linkedid: str, username: str, notes: str,
                  disposition: str | None) -> CallNote:
        if disposition is not None and disposition not in {
                d.code for d in self.queues.dispositions()}:
            raise DeskError(f"未知的处理结果代码：{disposition}", 422)
        return self.store.save_note(linkedid, username, notes, disposition)

    def notes(self, linkedid: str) -> Sequence[CallNote]:
        return self.store.notes(linkedid)

    def handled(self, linkedid: str, username: str) -> bool:
        """Whether ``username`` is or was connected to the call ``linkedid``."""
        if self.store.on_call(username, linkedid):
            return True
        contact = self.contacts.get_by_linkedid(linkedid)
        return contact is not None and username in contact.agents()

    async def close(self) -> None:
        await self.consult.close()
        await self.transitions.close()
