"""Agent states, kept in step with Asterisk's queue membership.

The console asks (:meth:`AgentDesk.go_ready`, :meth:`pause`, :meth:`log_out`); the desk checks
the transition, sends ``QueueAdd`` / ``QueuePause`` / ``QueueRemove`` and only then changes the
state. Asterisk's events move calls along: ``AgentCalled`` -> ringing (the call card is
published), ``AgentConnect`` -> on call, ``AgentComplete`` -> wrap-up (the member is paused with
reason 话后处理 for ``wrapup_seconds``, then ready again), ``AgentRingNoAnswer`` or the caller
leaving -> ready. ``QueueMemberStatus`` reporting a pause we did not make (CLI, another tool)
is taken over. After every AMI (re)connection :meth:`resync` pushes the queue configuration and
restores each agent's membership and pause from our state (``QueueStatus`` tells what Asterisk
has); a call that ended out of sight (Asterisk crashed or restarted) ends for the desk too: a
ringing agent is ready again, an agent on the call goes to wrap-up, the console is told, and
callers no longer in a queue leave the board. The state lives in memory, is written to
``agent_states`` (restored at start-up) and every change to ``agent_state_log``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select

from callcenter.agents.models import AgentState, AgentStateChange, AgentStateRow, CallNote
from callcenter.auth.models import Role, User
from callcenter.auth.services import audit
from callcenter.contacts.services import ContactFilters, ContactService
from callcenter.db import Database
from callcenter.errors import DomainError
from callcenter.notify.messages import (
    AgentsResynced,
    AgentStateChanged,
    CallAbandoned,
    CallbackOffered,
    CallCompleted,
    CallConnected,
    CallMissed,
    CallRinging,
    QueueBoard,
)
from callcenter.notify.services import Notifier
from callcenter.queues.services import Membership, QueueConfigPusher, QueueService
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
from ivr.events import (
    AgentTransfer,
    CallbackRequested,
    Digits,
    Escalated,
    FaqPlayed,
    Json,
    MenuNodeEntered,
    OutcomeSet,
    ServiceResult,
)
from ivr.ports import ContactEvent, ContactRecorder

log = logging.getLogger(__name__)

WRAP_UP_REASON = "话后处理"
STAFF_ROLES = (Role.AGENT, Role.EXPERT)

# which states a request may leave from
ALLOWED: dict[str, set[AgentState]] = {
    "ready": {AgentState.LOGGED_OUT, AgentState.PAUSED, AgentState.WRAP_UP, AgentState.READY},
    "pause": {AgentState.READY, AgentState.PAUSED, AgentState.WRAP_UP},
    "logout": {AgentState.READY, AgentState.PAUSED, AgentState.WRAP_UP,
               AgentState.LOGGED_OUT},
}

STATE_TITLES = {
    AgentState.LOGGED_OUT: "未签入", AgentState.READY: "就绪", AgentState.PAUSED: "暂停",
    AgentState.RINGING: "振铃", AgentState.ON_CALL: "通话中", AgentState.WRAP_UP: "话后处理",
}


class CallbackTaker(Protocol):
    """Creates a callback request (``callcenter.tickets``; the IVR's BookingDesk shape)."""

    async def request_callback(self, number: str, linkedid: str, reason: str) -> Any: ...


class DeskError(DomainError):
    """A request the desk refuses; ``status`` is the HTTP status to answer with (409 unless
    the raise says otherwise)."""


@dataclass
class Agent:
    username: str
    display_name: str
    role: str
    interface: str | None
    state: AgentState = AgentState.LOGGED_OUT
    reason: str | None = None
    since: datetime = field(kw_only=True)
    linkedid: str | None = None
    queue: str | None = None
    caller: str | None = None
    caller_channel: str | None = None
    queues: list[str] = field(default_factory=list)

    def notification(self) -> AgentStateChanged:
        """The agent's state as the notifier publishes it."""
        return AgentStateChanged(
            username=self.username, display_name=self.display_name, role=self.role,
            interface=self.interface, state=str(self.state),
            state_title=STATE_TITLES[self.state], reason=self.reason,
            since=self.since.isoformat(), linkedid=self.linkedid, queue=self.queue,
            caller=self.caller, queues=tuple(self.queues))

    def as_json(self) -> dict[str, Json]:
        return self.notification().to_dict()


@dataclass
class Waiting:
    linkedid: str
    queue: str
    caller: str
    since: datetime


class AgentDesk:
    def __init__(self, db: Database, queues: QueueService, notifier: Notifier,
                 contacts: ContactService, recorder: ContactRecorder | None = None,
                 ami: AmiClient | None = None, wrapup_seconds: float = 10.0,
                 callbacks: CallbackTaker | None = None, *, clock: Clock,
                 node_labels: Callable[[], Mapping[str, str]] | None = None,
                 node: str | None = None, default_node: str = "pbx1") -> None:
        self.db = db
        # a bridge of one Asterisk node (process roles): only the agents registered there
        # (users.node, None meaning ``default_node``); None: every agent (one process)
        self.node = node
        self.default_node = default_node
        # the menu's Chinese node titles, as the running menu has them (it may be reloaded)
        self.node_labels = node_labels
        self.clock = clock
        self.queues = queues
        self.notifier = notifier
        self.contacts = contacts
        self.recorder = recorder
        self.ami = ami
        self.wrapup_seconds = wrapup_seconds
        self.callbacks = callbacks
        self.callbacks_taken = 0
        self.pusher = QueueConfigPusher(queues, ami) if ami is not None else None
        self.agents: dict[str, Agent] = {}
        self.waiting: dict[str, Waiting] = {}  # callers in a queue, by caller uniqueid
        self._wrapups: dict[str, asyncio.Task[None]] = {}
        self._lock = asyncio.Lock()
        self.resyncs = 0
        if ami is not None:
            ami.on(QueueEvent, self._on_queue_event)
            ami.on(AmiEvent, self._on_any_event)
            ami.on_ready(self.resync)

    # -- loading --------------------------------------------------------------------------

    def load(self) -> None:
        """Agents and their last known state from the database (at start-up)."""
        with self.db.session() as session:
            users = session.scalars(select(User).where(
                User.role.in_([str(r) for r in STAFF_ROLES]), User.active.is_(True))).all()
            states = {r.username: r for r in session.scalars(select(AgentStateRow))}
        for user in users:
            if self.node is not None and (user.node or self.default_node) != self.node:
                self.agents.pop(user.username, None)  # another node's agent (or moved away)
                continue
            agent = self.agents.get(user.username) or Agent(
                user.username, user.display_name, user.role, user.interface, since=self.clock())
            agent.display_name, agent.role, agent.interface = (
                user.display_name, user.role, user.interface)
            row = states.get(user.username)
            if row is not None and agent.state is AgentState.LOGGED_OUT:
                # calls do not survive a restart of the app: a call state becomes ready
                state = AgentState(row.state)
                if state in (AgentState.RINGING, AgentState.ON_CALL, AgentState.WRAP_UP):
                    state = AgentState.READY
                agent.state, agent.reason, agent.since = state, row.reason, row.since
            self.agents[user.username] = agent

    def agent(self, username: str) -> Agent:
        agent = self.agents.get(username)
        if agent is None:
            self.load()
            agent = self.agents.get(username)
        if agent is None:
            raise DeskError(f"坐席 {username} 不存在或不是坐席/专家账号", 404)
        return agent

    def board(self) -> QueueBoard:
        """The supervisor's live board: agents by state, waiting callers, longest wait."""
        at = self.clock()
        waiting = sorted(self.waiting.values(), key=lambda w: w.since)
        by_state: dict[str, int] = {str(s): 0 for s in AgentState}
        for agent in self.agents.values():
            by_state[str(agent.state)] += 1
        queues: dict[str, dict[str, Any]] = {}
        for w in waiting:
            entry = queues.setdefault(w.queue, {"waiting": 0, "longest_wait_s": 0.0})
            entry["waiting"] += 1
            entry["longest_wait_s"] = max(entry["longest_wait_s"],
                                          (at - w.since).total_seconds())
        return QueueBoard(
            at=at.isoformat(),
            agents=tuple(a.as_json() for a in sorted(self.agents.values(),
                                                      key=lambda a: a.username)),
            by_state=by_state,
            waiting=tuple({"linkedid": w.linkedid, "queue": w.queue, "caller": w.caller,
                           "wait_s": round((at - w.since).total_seconds(), 1)}
                          for w in waiting),
            longest_wait_s=round((at - waiting[0].since).total_seconds(), 1)
            if waiting else 0.0,
            queues=queues,
        )

    # -- requests from the console --------------------------------------------------------

    def _check(self, agent: Agent, request: str) -> None:
        if agent.state not in ALLOWED[request]:
            verb = {"ready": "切换为就绪", "pause": "暂停", "logout": "签出"}[request]
            raise DeskError(f"当前状态「{STATE_TITLES[agent.state]}」不能{verb}", 409)

    def _need_ami(self) -> AmiClient:
        if self.ami is None or not self.ami.ready:
            raise DeskError("与交换机（Asterisk）的连接暂不可用，请稍后再试", 503)
        return self.ami

    async def _action(self, action: dict[str, Any], ok_messages: tuple[str, ...] = ()) -> None:
        ami = self._need_ami()
        try:
            response = await ami.send_action(action)
        except AmiError as exc:
            raise DeskError(f"交换机未执行操作：{exc}", 503) from exc
        if str(response.get("Response")) != "Success":
            message = str(response.get("Message", ""))
            if not any(m.lower() in message.lower() for m in ok_messages):
                raise DeskError(f"交换机拒绝了操作 {action['Action']}：{message}", 502)

    async def _add_member(self, agent: Agent, membership: Membership, paused: bool,
                          reason: str | None) -> None:
        assert agent.interface is not None
        action: dict[str, Any] = {
            "Action": "QueueAdd", "Queue": membership.queue, "Interface": agent.interface,
            "MemberName": agent.username, "Penalty": str(membership.penalty),
            "Paused": "true" if paused else "false"}
        if paused and reason:
            action["Reason"] = reason
        await self._action(action, ok_messages=("already there",))

    async def _pause_member(self, agent: Agent, paused: bool, reason: str | None) -> None:
        assert agent.interface is not None
        action: dict[str, Any] = {"Action": "QueuePause", "Interface": agent.interface,
                                  "Paused": "true" if paused else "false"}
        if reason:
            action["Reason"] = reason
        await self._action(action)

    async def go_ready(self, username: str, *, by: str) -> Agent:
        async with self._lock:
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
                    await self._add_member(agent, membership, False, None)
                agent.queues = [m.queue for m in memberships]
            else:
                self._cancel_wrapup(username)
                await self._pause_member(agent, False, None)
            await self._set(agent, AgentState.READY, None, by=by)
            return agent

    async def pause(self, username: str, reason: str, *, by: str) -> Agent:
        async with self._lock:
            agent = self.agent(username)
            self._check(agent, "pause")
            titles = {r.code: r.title for r in await asyncio.to_thread(self.queues.pause_reasons)}
            title = titles.get(reason) or (reason if reason in titles.values() else None)
            if title is None:
                raise DeskError(f"未知的暂停原因：{reason}", 422)
            self._cancel_wrapup(username)
            await self._pause_member(agent, True, title)
            await self._set(agent, AgentState.PAUSED, title, by=by)
            return agent

    async def log_out(self, username: str, *, by: str) -> Agent:
        async with self._lock:
            agent = self.agent(username)
            self._check(agent, "logout")
            if agent.state is AgentState.LOGGED_OUT:
                return agent
            self._cancel_wrapup(username)
            assert agent.interface is not None
            queues = agent.queues or [m.queue for m in await asyncio.to_thread(
                self.queues.memberships, username)]
            for queue in queues:
                await self._action({"Action": "QueueRemove", "Queue": queue,
                                    "Interface": agent.interface},
                                   ok_messages=("not there", "unable to remove"))
            agent.queues = []
            await self._set(agent, AgentState.LOGGED_OUT, None, by=by)
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
        linkedid = agent.linkedid
        await self._action({"Action": "Redirect", "Channel": agent.caller_channel,
                            "Context": "hotline-queue", "Exten": queue, "Priority": "1"})
        if self.recorder is not None and linkedid:
            self.recorder.record(ContactEvent(linkedid, AgentTransfer(
                agent=username, from_queue=agent.queue, to_queue=queue), at=self.clock()))
        await asyncio.to_thread(self._audit, by, "call.transfer", username,
                                linkedid=linkedid, to_queue=queue)
        return agent

    # -- state changes --------------------------------------------------------------------

    async def _set(self, agent: Agent, state: AgentState, reason: str | None, *,
                   by: str | None, linkedid: str | None = None) -> None:
        agent.state, agent.reason, agent.since = state, reason, self.clock()
        if state in (AgentState.READY, AgentState.PAUSED, AgentState.LOGGED_OUT):
            agent.linkedid = agent.queue = agent.caller = agent.caller_channel = None
        self.notifier.agent_state(agent.notification())
        try:
            await asyncio.to_thread(self._store, agent, by, linkedid or agent.linkedid)
        except Exception:
            log.exception("agent state of %s not stored", agent.username)

    def _store(self, agent: Agent, by: str | None, linkedid: str | None) -> None:
        with self.db.transaction() as session:
            row = session.get(AgentStateRow, agent.username)
            if row is None:
                row = AgentStateRow(username=agent.username, state=str(agent.state),
                                    since=agent.since)
                session.add(row)
            row.state, row.reason, row.since = str(agent.state), agent.reason, agent.since
            session.add(AgentStateChange(username=agent.username, state=str(agent.state),
                                         reason=agent.reason, at=agent.since,
                                         linkedid=linkedid, by=by))
            if by is not None and by != agent.username:
                audit(session, by, "agent.state", agent.username, at=agent.since,
                      state=str(agent.state), reason=agent.reason)

    def _audit(self, actor: str, action: str, target: str, **detail: Any) -> None:
        with self.db.transaction() as session:
            audit(session, actor, action, target, at=self.clock(), **detail)

    def _cancel_wrapup(self, username: str) -> None:
        task = self._wrapups.pop(username, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _wrapup_then_ready(self, agent: Agent) -> None:
        await asyncio.sleep(self.wrapup_seconds)
        self._wrapups.pop(agent.username, None)
        async with self._lock:
            if agent.state is not AgentState.WRAP_UP:
                return
            try:
                await self._pause_member(agent, False, None)
            except DeskError:
                log.warning("wrap-up of %s: unpause failed; resync will retry", agent.username)
            await self._set(agent, AgentState.READY, None, by=None)

    # -- Asterisk events ------------------------------------------------------------------

    def _agent_of(self, event: QueueEvent) -> Agent | None:
        if event.member_name in self.agents:
            return self.agents[event.member_name]
        for agent in self.agents.values():
            if agent.interface and agent.interface == event.member:
                return agent
        return None

    async def _on_queue_event(self, event: QueueEvent) -> None:
        if isinstance(event, QueueCallerJoin):
            self.waiting[event.uniqueid] = Waiting(event.linkedid, event.queue,
                                                   event.caller_id_num, self.clock())
            self.notifier.queue_board(self.board())
            return
        if isinstance(event, QueueCallerLeave | QueueCallerAbandon):
            self.waiting.pop(event.uniqueid, None)
            self.notifier.queue_board(self.board())
            if isinstance(event, QueueCallerAbandon):
                for ringing in self.agents.values():
                    if ringing.linkedid == event.linkedid and ringing.state is AgentState.RINGING:
                        await self._set(ringing, AgentState.READY, None, by=None)
                        self.notifier.call_abandoned(ringing.username,
                                                     CallAbandoned(linkedid=event.linkedid))
            return
        agent = self._agent_of(event)
        if agent is None:
            return
        username = agent.username
        if isinstance(event, AgentCalled):
            if agent.state is AgentState.ON_CALL:
                return
            agent.linkedid, agent.queue = event.linkedid, event.queue
            agent.caller, agent.caller_channel = event.caller_id_num, event.channel
            await self._set(agent, AgentState.RINGING, None, by=None, linkedid=event.linkedid)
            waiting = self.waiting.get(event.uniqueid)
            card = await self.call_card(event.linkedid, event.caller_id_num, event.queue,
                                        waiting.since if waiting else None)
            self.notifier.call_ringing(username, card)
        elif isinstance(event, AgentConnect):
            agent.linkedid, agent.queue = event.linkedid, event.queue
            agent.caller, agent.caller_channel = event.caller_id_num, event.channel
            await self._set(agent, AgentState.ON_CALL, None, by=None, linkedid=event.linkedid)
            self.notifier.call_connected(username, CallConnected(
                linkedid=event.linkedid, queue=event.queue, hold_time=event.hold_time))
        elif isinstance(event, AgentComplete):
            if agent.linkedid not in (None, event.linkedid):
                return
            linkedid = event.linkedid
            await self._enter_wrapup(agent, linkedid)
            self.notifier.call_completed(username, CallCompleted(
                linkedid=linkedid, talk_time=event.talk_time, reason=event.reason))
        elif isinstance(event, AgentRingNoAnswer) and agent.state is AgentState.RINGING:
            await self._set(agent, AgentState.READY, None, by=None)
            self.notifier.call_missed(username, CallMissed(linkedid=event.linkedid))

    async def _enter_wrapup(self, agent: Agent, linkedid: str) -> None:
        async with self._lock:
            await self._start_wrapup(agent, linkedid)

    async def _start_wrapup(self, agent: Agent, linkedid: str) -> None:
        """The agent's call ended: wrap-up (paused) for ``wrapup_seconds``, then ready; the
        caller holds ``_lock``."""
        if self.wrapup_seconds > 0:
            try:
                await self._pause_member(agent, True, WRAP_UP_REASON)
            except DeskError:
                log.warning("wrap-up pause of %s failed", agent.username)
            agent.caller_channel = None
            await self._set(agent, AgentState.WRAP_UP, WRAP_UP_REASON, by=None,
                            linkedid=linkedid)
            agent.linkedid = linkedid
            self._cancel_wrapup(agent.username)
            self._wrapups[agent.username] = asyncio.get_running_loop().create_task(
                self._wrapup_then_ready(agent), name=f"wrap-up {agent.username}")
        else:
            await self._set(agent, AgentState.READY, None, by=None)

    async def _on_any_event(self, event: AmiEvent) -> None:
        if event.name.lower() == "userevent" and event.header("UserEvent") == "HotlineCallback":
            await self._callback_from_queue(event)
            return
        if event.name.lower() != "queuememberstatus":
            return
        name = event.header("MemberName")
        agent = self.agents.get(name)
        if agent is None:
            return
        paused = event.header("Paused") == "1"
        reason = event.header("PausedReason") or None
        if agent.state is AgentState.READY and paused and reason != WRAP_UP_REASON:
            # paused outside the console (CLI, another tool): show it
            await self._set(agent, AgentState.PAUSED, reason or "外部暂停", by=None)
        elif agent.state is AgentState.PAUSED and not paused and reason is None and (
                agent.reason == "外部暂停"):
            await self._set(agent, AgentState.READY, None, by=None)

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
        self.notifier.callback_offered(CallbackOffered(number=number, queue=queue))

    # -- resynchronisation ----------------------------------------------------------------

    async def resync(self) -> None:
        """After a (re)connection: push the queue configuration, then restore every agent's
        membership and pause in Asterisk from our state."""
        if self.ami is None:
            return
        try:
            if self.pusher is not None:
                await self.pusher.push()
        except Exception:
            log.exception("queue configuration push failed")
        try:
            response = await self.ami.send_action({"Action": "QueueStatus"}, as_list=True,
                                                  timeout=10)
        except AmiError:
            log.exception("QueueStatus failed; agent resync skipped")
            return
        present: dict[tuple[str, str], dict[str, str]] = {}
        queued: set[str] = set()  # uniqueids of the callers waiting in a queue
        for message in response if isinstance(response, list) else []:
            kind = str(message.get("Event", "")).lower()
            info = {k.lower(): str(v) for k, v in message.items()}
            if kind == "queuemember":
                iface = info.get("stateinterface") or info.get("location", "")
                present[(info.get("queue", ""), iface)] = info
            elif kind == "queueentry":
                queued.add(info.get("uniqueid", ""))
        gone = [uniqueid for uniqueid in self.waiting if uniqueid not in queued]
        if gone:  # they left while we could not see it (e.g. Asterisk restarted)
            for uniqueid in gone:
                del self.waiting[uniqueid]
            self.notifier.queue_board(self.board())
        await asyncio.to_thread(self.load)
        async with self._lock:
            for agent in list(self.agents.values()):
                try:
                    await self._restore(agent, present)
                except DeskError as exc:
                    log.warning("resync of %s: %s", agent.username, exc)
        self.resyncs += 1
        self.notifier.agents_resynced(AgentsResynced(resyncs=self.resyncs))

    async def _restore(self, agent: Agent, present: dict[tuple[str, str], dict[str, str]]
                       ) -> None:
        if agent.interface is None:
            return
        mine = {q for (q, iface) in present if iface == agent.interface}
        if agent.state is AgentState.LOGGED_OUT:
            for queue in mine:
                await self._action({"Action": "QueueRemove", "Queue": queue,
                                    "Interface": agent.interface}, ok_messages=("not there",))
            return
        memberships = await asyncio.to_thread(self.queues.memberships, agent.username)
        agent.queues = [m.queue for m in memberships]
        paused = agent.state in (AgentState.PAUSED, AgentState.WRAP_UP)
        for membership in memberships:
            if membership.queue not in mine:
                await self._add_member(agent, membership, paused, agent.reason)
        await self._pause_member(agent, paused, agent.reason if paused else None)
        # a call may have ended while we could not see it
        in_call = any(p.get("incall") == "1" or p.get("status") in ("2", "6", "7")
                      for (_q, iface), p in present.items() if iface == agent.interface)
        if agent.state in (AgentState.RINGING, AgentState.ON_CALL) and not in_call:
            await self._call_lost(agent)

    async def _call_lost(self, agent: Agent) -> None:
        """The agent's call ended out of sight: a ringing agent is ready again, one on the call
        goes to wrap-up as after any call; the console's call card is told. Holds ``_lock``."""
        linkedid = agent.linkedid
        if agent.state is AgentState.RINGING or linkedid is None:
            await self._set(agent, AgentState.READY, None, by=None)
            self.notifier.call_abandoned(agent.username, CallAbandoned(linkedid=linkedid))
            return
        await self._start_wrapup(agent, linkedid)
        self.notifier.call_completed(agent.username, CallCompleted(
            linkedid=linkedid, talk_time=None, reason="lost"))

    # -- the call card --------------------------------------------------------------------

    async def call_card(self, linkedid: str, caller: str, queue: str,
                        waiting_since: datetime | None) -> CallRinging:
        """What the console shows when the phone rings (from the contact's timeline)."""
        if self.recorder is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.recorder.flush(), 2.0)
        return await asyncio.to_thread(self._card, linkedid, caller, queue, waiting_since)

    def _card(self, linkedid: str, caller: str, queue: str,
              waiting_since: datetime | None) -> CallRinging:
        contact = self.contacts.get_by_linkedid(linkedid)
        path: list[str] = []
        faqs: list[Mapping[str, Json]] = []
        asked: list[str] = []    # the caller's words of a question self-service handed over
        digits: list[str] = []
        taxpayer: str | None = None
        # the Chinese title of a menu node for the agent (its id when it has none)
        titles = self.node_labels() if self.node_labels is not None else {}
        if contact is not None:
            caller = contact.caller_number or caller
            for record in contact.records():
                if isinstance(record, MenuNodeEntered):
                    if not path or path[-1] != record.node:
                        path.append(record.node)
                elif isinstance(record, Digits):
                    digits.append(record.digits)
                elif isinstance(record, FaqPlayed):
                    # the question of the answer the caller heard (a repeat is listed once)
                    faq = {"id": record.faq_id, "question": record.question,
                           "node": record.node, "node_label": titles.get(record.node, record.node)}
                    if faq not in faqs:
                        faqs.append(faq)
                elif isinstance(record, Escalated) and record.text:
                    asked.append(record.text)
                elif isinstance(record, ServiceResult) and record.tin:
                    # the comprehensive query: verified (TIN + PIN) or only stated
                    verified = record.result == "found"
                    if verified or taxpayer is None:
                        taxpayer = f"{record.tin}（{'已验证' if verified else '未验证'}）"
            if waiting_since is None and contact.queue_joined_at is not None:
                waiting_since = contact.queue_joined_at
        _total, previous = self.contacts.search(ContactFilters(caller=caller), 6, 0)
        history: list[Mapping[str, Json]] = [
            {"id": c.id, "started_at": c.started_at.isoformat(), "outcome": c.outcome,
             "queue": c.queue, "agent": c.agent}
            for c in previous if c.linkedid != linkedid]
        wait = (self.clock() - waiting_since).total_seconds() if waiting_since else None
        return CallRinging(linkedid=linkedid, caller=caller, queue=queue,
                           contact_id=contact.id if contact else None, ivr_path=tuple(path),
                           ivr_path_labels=tuple(titles.get(node, node) for node in path),
                           digits=tuple(digits), faqs=tuple(faqs), asked=tuple(asked),
                           taxpayer=taxpayer,
                           wait_s=round(wait, 1) if wait is not None else None,
                           previous=tuple(history[:5]))

    # -- notes and dispositions -----------------------------------------------------------

    def save_note(self, linkedid: str, username: str, notes: str,
                  disposition: str | None) -> CallNote:
        if disposition is not None and disposition not in {
                d.code for d in self.queues.dispositions()}:
            raise DeskError(f"未知的处理结果代码：{disposition}", 422)
        with self.db.transaction() as session:
            row = session.scalar(select(CallNote).where(CallNote.linkedid == linkedid,
                                                        CallNote.username == username))
            if row is None:
                row = CallNote(linkedid=linkedid, username=username, notes=notes,
                               disposition=disposition, updated_at=self.clock())
                session.add(row)
            else:
                row.notes, row.disposition, row.updated_at = notes, disposition, self.clock()
            session.flush()
            return row

    def notes(self, linkedid: str) -> Sequence[CallNote]:
        with self.db.session() as session:
            return session.scalars(select(CallNote).where(CallNote.linkedid == linkedid)
                                   .order_by(CallNote.updated_at)).all()

    def handled(self, linkedid: str, username: str) -> bool:
        """Whether ``username`` is or was connected to the call ``linkedid``."""
        agent = self.agents.get(username)
        if agent is not None and agent.linkedid == linkedid:
            return True
        contact = self.contacts.get_by_linkedid(linkedid)
        return contact is not None and username in contact.agents()

    async def close(self) -> None:
        for task in list(self._wrapups.values()):
            task.cancel()
        self._wrapups.clear()
