"""Hold: the agent puts the caller on hold and takes them back (docs/console.md "Hold").

The caller stays bridged to the agent the whole time, so the queue call goes on as Asterisk
counts it (``AgentComplete``'s talk time includes the hold, the recording goes on, the agent stays
on the call). Holding (AMI; measured on the sandbox by ``tests/callcenter/test_hold_pbx.py``):

1. ``Originate`` of ``PJSIP/holdmusic`` (pjsip.conf), a call Asterisk places to itself: the
   answering side plays the hotline's music class (``hotline-hold,music``), the calling side
   whispers what it hears into the caller's channel (``hotline-hold,spy``:
   ``ChanSpy(<caller>,qwE)``);
2. ``MuteAudio`` (in) of the caller's channel: the agent no longer hears the caller;
3. ``VOLUME(RX)`` of the agent's channel turned down to nothing: the caller no longer hears the
   agent. (``MuteAudio`` drops the frames, and the whisper rides on the frames written to the
   caller: with the agent muted that way the caller heard nothing at all.)

Tried first and measured silent: a ``Local`` channel as the whispering side (the caller received
frames without sound), hence the SIP call to itself.

Resuming hangs the music call up (by the ids given to ``Originate``), unmutes the caller and
turns the agent back up. The hold is in the contact's timeline (``call_held``, then
``call_resumed`` with ``held_seconds``, from which the statistics count hold time per agent and
per call). A call that ends, or is transferred, while on hold ends the hold the same way
(``call_resumed`` with ``ended``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from callcenter.agents.members import QueueMembers
from callcenter.agents.models import AgentState
from callcenter.agents.notifier import DeskNotifier
from callcenter.agents.state import Agent, DeskError
from ivr.clock import Clock
from ivr.events import CallHeld, CallResumed
from ivr.ports import ContactEvent, ContactRecorder

log = logging.getLogger(__name__)

HOLD_CONTEXT = "hotline-hold"  # ivr/pbx/asterisk/extensions.conf


class CallHold:
    def __init__(self, members: QueueMembers, notify: DeskNotifier, *, clock: Clock,
                 recorder: ContactRecorder | None = None) -> None:
        self.members = members
        self.notify = notify
        self.clock = clock
        self.recorder = recorder
        self.lock = asyncio.Lock()

    @staticmethod
    def _live(agent: Agent) -> tuple[str, str]:
        if (agent.state is not AgentState.ON_CALL or not agent.caller_channel
                or not agent.agent_channel):
            raise DeskError("当前没有通话，不能保持", 409)
        return agent.caller_channel, agent.agent_channel

    async def hold(self, agent: Agent) -> Agent:
        """Music for the caller, silence both ways; 409 without a call or when held already."""
        async with self.lock:
            caller, own = self._live(agent)
            if agent.held_since is not None:
                raise DeskError("通话已处于保持状态", 409)
            first = f"hold-{uuid.uuid4().hex[:16]}"
            ids = (first, f"{first}-2")
            await self.members.originate(
                "PJSIP/holdmusic", HOLD_CONTEXT, "spy",
                {"HOTLINE_HOLD_CHANNEL": caller}, ChannelId=ids[0], OtherChannelId=ids[1])
            agent.hold_music = ids
            try:
                await self.members.mute(caller, True)
                await self.members.silence(own, True)
            except DeskError:
                await self._release(agent)
                raise
            agent.held_since = self.clock()
            if self.recorder is not None and agent.linkedid:
                self.recorder.record(ContactEvent(agent.linkedid, CallHeld(
                    agent=agent.username, queue=agent.queue), at=agent.held_since))
            self.notify.agent_state(agent)
            return agent

    async def resume(self, agent: Agent) -> float:
        """Back to the caller; the seconds the hold lasted. 409 when not on hold."""
        async with self.lock:
            self._live(agent)
            if agent.held_since is None:
                raise DeskError("通话未处于保持状态", 409)
            return await self._end(agent, ended=False)

    async def release(self, agent: Agent) -> float | None:
        """The call ended or is transferred: end a hold it had (None when none)."""
        async with self.lock:
            if agent.held_since is None and agent.hold_music is None:
                return None
            return await self._end(agent, ended=True)

    async def _end(self, agent: Agent, *, ended: bool) -> float:
        await self._release(agent)
        since, agent.held_since = agent.held_since, None
        at = self.clock()
        seconds = round(max(0.0, (at - since).total_seconds()), 3) if since else 0.0
        if self.recorder is not None and agent.linkedid and since is not None:
            self.recorder.record(ContactEvent(agent.linkedid, CallResumed(
                agent=agent.username, held_seconds=seconds, ended=ended), at=at))
        self.notify.agent_state(agent)
        return seconds

    async def _release(self, agent: Agent) -> None:
        """The music stopped and both directions unmuted (whatever is gone already is fine;
        a failure is logged: the call must not stay silent because of one refusal)."""
        music, agent.hold_music = agent.hold_music, None
        steps: list[tuple[str, str]] = [("hangup", c) for c in music or ()]
        steps += [("unmute", c) for c in (agent.caller_channel,) if c]
        steps += [("unsilence", c) for c in (agent.agent_channel,) if c]
        for step, channel in steps:
            try:
                if step == "hangup":
                    await self.members.hangup(channel)
                elif step == "unmute":
                    await self.members.mute(channel, False)
                else:
                    await self.members.silence(channel, False)
            except DeskError as exc:
                log.warning("hold of %s: %s %s failed: %s", agent.username, step, channel, exc)
