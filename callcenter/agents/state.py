"""The agent state store: who the agents are and where each stands, in memory and in the tables.

:class:`AgentStore` holds the desk's agents (loaded from ``users`` and ``agent_states`` at
start-up; a bridge of one Asterisk node keeps only that node's agents) and the callers waiting in
a queue, builds the supervisor's board from them, and writes the desk's four tables:
``agent_states`` (the current state, restored at start-up), ``agent_state_log`` (every change),
``audit_log`` (a change or a transfer made by someone else) and ``call_notes``. It sends nothing
to Asterisk and publishes nothing (callcenter/agents/services.py puts the parts together).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from callcenter.agents.models import AgentState, AgentStateChange, AgentStateRow, CallNote
from callcenter.auth.models import Role, User
from callcenter.auth.services import audit
from callcenter.db import Database
from callcenter.errors import DomainError
from callcenter.notify.messages import AgentStateChanged, QueueBoard
from ivr.clock import Clock
from ivr.events import Json

WRAP_UP_REASON = "话后处理"
EXTERNAL_PAUSE = "外部暂停"
# an agent calling a taxpayer back (callcenter/outbound) stays paused in Asterisk's queues
CALLBACK_REASON = "外呼回电"
# an agent consulted by name (callcenter/agents/consult.py) is paused the same way meanwhile
CONSULT_REASON = "咨询来电"
# the reasons of an agent reserved for a call no queue offered (AgentTransitions.reserve): that
# call is followed by its own code, not by the queue events
RESERVED_REASONS = (CALLBACK_REASON, CONSULT_REASON)
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
    agent_channel: str | None = None  # the agent's own leg of the call (AgentConnect)
    held_since: datetime | None = None  # on hold since (callcenter/agents/hold.py)
    hold_music: tuple[str, str] | None = None  # the ids of the Local channel playing it

    def notification(self) -> AgentStateChanged:
        """The agent's state as the notifier publishes it."""
        return AgentStateChanged(
            username=self.username, display_name=self.display_name, role=self.role,
            interface=self.interface, state=str(self.state),
            state_title=STATE_TITLES[self.state], reason=self.reason,
            since=self.since.isoformat(), linkedid=self.linkedid, queue=self.queue,
            caller=self.caller, queues=tuple(self.queues),
            on_hold=self.held_since is not None,
            held_since=None if self.held_since is None else self.held_since.isoformat())

    def as_json(self) -> dict[str, Json]:
        return self.notification().to_dict()


@dataclass
class Waiting:
    linkedid: str
    queue: str
    caller: str
    since: datetime


class AgentStore:
    """The agents and the waiting callers (memory) and the desk's tables."""

    def __init__(self, db: Database, clock: Clock, *, node: str | None = None,
                 default_node: str = "pbx1") -> None:
        self.db = db
        self.clock = clock
        # a bridge of one Asterisk node (process roles): only the agents registered there
        # (users.node, None meaning ``default_node``); None: every agent (one process)
        self.node = node
        self.default_node = default_node
        self.agents: dict[str, Agent] = {}
        self.waiting: dict[str, Waiting] = {}  # callers in a queue, by caller uniqueid

    # -- the agents -----------------------------------------------------------------------

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

    def on_call(self, username: str, linkedid: str) -> bool:
        """Whether ``username`` is on (or ringing for, or wrapping up) the call now."""
        agent = self.agents.get(username)
        return agent is not None and agent.linkedid == linkedid

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

    # -- the tables -----------------------------------------------------------------------

    def store(self, agent: Agent, by: str | None, linkedid: str | None) -> None:
        """The agent's new state: ``agent_states``, ``agent_state_log``, and ``audit_log``
        when someone else (``by``) made the change."""
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

    def audit(self, actor: str, action: str, target: str, **detail: Any) -> None:
        with self.db.transaction() as session:
            audit(session, actor, action, target, at=self.clock(), **detail)

    def save_note(self, linkedid: str, username: str, notes: str,
                  disposition: str | None) -> CallNote:
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
