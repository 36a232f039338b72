"""An agent's state changes, one way for every cause (a console request, an Asterisk event,
a resync): the new state in memory, published, then stored; wrap-up (the member paused with
reason 话后处理 for ``wrapup_seconds``, then ready again); one lock that serialises the changes
that also send AMI actions; an agent reserved for a call the queues do not offer (a callback,
a consultation by name) and released again."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from callcenter.agents.members import QueueMembers
from callcenter.agents.models import AgentState
from callcenter.agents.notifier import DeskNotifier
from callcenter.agents.state import WRAP_UP_REASON, Agent, AgentStore, DeskError
from ivr.clock import Clock

log = logging.getLogger(__name__)


class AgentTransitions:
    def __init__(self, store: AgentStore, members: QueueMembers, notify: DeskNotifier, *,
                 clock: Clock, wrapup_seconds: float = 10.0) -> None:
        self.store = store
        self.members = members
        self.notify = notify
        self.clock = clock
        self.wrapup_seconds = wrapup_seconds
        self.lock = asyncio.Lock()
        self._wrapups: dict[str, asyncio.Task[None]] = {}

    async def set(self, agent: Agent, state: AgentState, reason: str | None, *,
                  by: str | None, linkedid: str | None = None) -> None:
        agent.state, agent.reason, agent.since = state, reason, self.clock()
        if state in (AgentState.READY, AgentState.PAUSED, AgentState.LOGGED_OUT):
            agent.linkedid = agent.queue = agent.caller = agent.caller_channel = None
            agent.agent_channel = agent.held_since = agent.hold_music = None
        self.notify.agent_state(agent)
        try:
            await asyncio.to_thread(self.store.store, agent, by, linkedid or agent.linkedid)
        except Exception:
            log.exception("agent state of %s not stored", agent.username)

    async def reserve(self, agent: Agent, reason: str, *, linkedid: str | None,
                      queue: str | None, caller: str | None) -> bool:
        """A 就绪 agent out of the queues for a call they did not take from one: 振铃 first
        (so that the pause Asterisk then reports is ours), then paused with ``reason``.
        False, changing nothing, when the agent is not 就绪; a failed pause puts them back to
        就绪 and raises its DeskError."""
        async with self.lock:
            if agent.state is not AgentState.READY:
                return False
            agent.linkedid, agent.queue, agent.caller = linkedid, queue, caller
            await self.set(agent, AgentState.RINGING, reason, by=None, linkedid=linkedid)
            try:
                await self.members.pause(agent, True, reason)
            except DeskError:
                await self.set(agent, AgentState.READY, None, by=None)
                raise
        return True

    async def release(self, agent: Agent, reason: str, linkedid: str | None) -> None:
        """A reserved agent back to 就绪, unpaused (not answered, cancelled), unless they
        moved on meanwhile (another call, wrap-up after this one)."""
        async with self.lock:
            if agent.linkedid != linkedid or agent.reason != reason:
                return
            with contextlib.suppress(DeskError):
                await self.members.pause(agent, False, None)
            await self.set(agent, AgentState.READY, None, by=None)

    async def enter_wrapup(self, agent: Agent, linkedid: str) -> None:
        async with self.lock:
            await self.start_wrapup(agent, linkedid)

    async def start_wrapup(self, agent: Agent, linkedid: str) -> None:
        """The agent's call ended: wrap-up (paused) for ``wrapup_seconds``, then ready; the
        caller holds ``lock``."""
        if self.wrapup_seconds > 0:
            try:
                await self.members.pause(agent, True, WRAP_UP_REASON)
            except DeskError:
                log.warning("wrap-up pause of %s failed", agent.username)
            agent.caller_channel = agent.agent_channel = agent.held_since = None
            agent.hold_music = None
            await self.set(agent, AgentState.WRAP_UP, WRAP_UP_REASON, by=None,
                           linkedid=linkedid)
            agent.linkedid = linkedid
            self.cancel_wrapup(agent.username)
            self._wrapups[agent.username] = asyncio.get_running_loop().create_task(
                self._wrapup_then_ready(agent), name=f"wrap-up {agent.username}")
        else:
            await self.set(agent, AgentState.READY, None, by=None)

    def cancel_wrapup(self, username: str) -> None:
        task = self._wrapups.pop(username, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _wrapup_then_ready(self, agent: Agent) -> None:
        await asyncio.sleep(self.wrapup_seconds)
        self._wrapups.pop(agent.username, None)
        async with self.lock:
            if agent.state is not AgentState.WRAP_UP:
                return
            try:
                await self.members.pause(agent, False, None)
            except DeskError:
                log.warning("wrap-up of %s: unpause failed; resync will retry", agent.username)
            await self.set(agent, AgentState.READY, None, by=None)

    async def call_lost(self, agent: Agent) -> None:
        """The agent's call ended out of sight: a ringing agent is ready again, one on the call
        goes to wrap-up as after any call; the console's call card is told. Holds ``lock``."""
        linkedid = agent.linkedid
        if agent.state is AgentState.RINGING or linkedid is None:
            await self.set(agent, AgentState.READY, None, by=None)
            self.notify.call_abandoned(agent.username, linkedid)
            return
        await self.start_wrapup(agent, linkedid)
        self.notify.call_completed(agent.username, linkedid, None, "lost")

    async def close(self) -> None:
        for task in list(self._wrapups.values()):
            task.cancel()
        self._wrapups.clear()
