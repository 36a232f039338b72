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

A hold outlives the desk that made it only in Asterisk: when ``hotline serve`` (or the bridge of
the agent's node) restarts while a caller is on hold, the new desk knows neither the call nor the
hold, so the agent has no 恢复通话 and the caller would hear music until someone hangs up.
:meth:`CallHold.recover` (run by the desk's resync after every AMI (re)connection) finds such
holds in ``CoreShowChannels`` (the music call's calling side, whose uniqueid is the
``hold-…`` id given to ``Originate``, runs ``ChanSpy(<caller>,…)``) and ends each one that no
agent of this desk holds: the music hung up, the caller unmuted, the agent's channels in the
caller's bridge turned back up, and ``call_resumed`` recorded with the seconds the hold lasted
(the music channel's age). The caller is put back to the agent rather than the hold rebuilt: the
desk does not rebuild the call itself after a restart (docs/console.md "Hold"), so a rebuilt hold
could not be resumed from the console; the agent hears the caller again at once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable, Sequence

from callcenter.agents.members import QueueMembers
from callcenter.agents.models import AgentState
from callcenter.agents.notifier import DeskNotifier
from callcenter.agents.state import Agent, DeskError
from ivr.ami.client import AmiError
from ivr.clock import Clock
from ivr.events import CallHeld, CallResumed
from ivr.ports import ContactEvent, ContactRecorder

log = logging.getLogger(__name__)

HOLD_CONTEXT = "hotline-hold"  # ivr/pbx/asterisk/extensions.conf
HOLD_ID_PREFIX = "hold-"  # the uniqueid given to the music call's Originate


def channel_age(duration: str) -> float:
    """``CoreShowChannel``'s ``Duration`` (``HH:MM:SS``, or seconds) in seconds; 0 unreadable."""
    try:
        parts = [float(p) for p in duration.strip().split(":")]
    except ValueError:
        return 0.0
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return max(seconds, 0.0)


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

    async def recover(self, agents: Iterable[Agent]) -> int:
        """End the holds Asterisk still plays that none of ``agents`` holds (a restart forgot
        them): the caller back to the agent. Returns how many were ended."""
        async with self.lock:
            owned = {i for a in agents if a.hold_music for i in a.hold_music}
            by_interface = {a.interface: a for a in agents if a.interface}
            try:
                channels = await self.members.channels()
            except AmiError as exc:
                log.warning("CoreShowChannels failed; held calls not recovered: %s", exc)
                return 0
            ended = 0
            for music in channels:
                uniqueid = music.get("uniqueid", "")
                if (not uniqueid.startswith(HOLD_ID_PREFIX) or uniqueid in owned
                        or music.get("application", "").lower() != "chanspy"):
                    continue
                caller = music.get("applicationdata", "").split(",")[0].strip()
                await self._recover_one(music, caller, channels, by_interface)
                ended += 1
            return ended

    async def _recover_one(self, music: dict[str, str], caller: str,
                           channels: list[dict[str, str]],
                           by_interface: dict[str, Agent]) -> None:
        seconds = round(channel_age(music.get("duration", "")), 3)
        entry = next((c for c in channels if caller and c.get("channel") == caller), None)
        bridge = (entry or {}).get("bridgeid", "")
        others = [c.get("channel", "") for c in channels
                  if bridge and c.get("bridgeid") == bridge and c.get("channel") != caller]
        agent = next((by_interface[c.rsplit("-", 1)[0]] for c in others
                      if c.rsplit("-", 1)[0] in by_interface), None)
        log.warning("a hold of %s found after a restart (%.0f s): caller put back to %s",
                    caller or "?", seconds, agent.username if agent else "the agent")
        steps = [("hangup", music.get("uniqueid", "")), ("unmute", caller),
                 *(("unsilence", c) for c in others)]
        await self._steps("recovered hold", steps)
        linkedid = (entry or {}).get("linkedid", "")
        if self.recorder is not None and linkedid and entry is not None:
            self.recorder.record(ContactEvent(linkedid, CallResumed(
                agent=agent.username if agent else "", held_seconds=seconds, ended=False),
                at=self.clock()))

    async def _steps(self, who: str, steps: Sequence[tuple[str, str]]) -> None:
        """Hang up, unmute, turn up each channel named (whatever is gone already is fine;
        a failure is logged: the call must not stay silent because of one refusal)."""
        for step, channel in steps:
            if not channel:
                continue
            try:
                if step == "hangup":
                    await self.members.hangup(channel)
                elif step == "unmute":
                    await self.members.mute(channel, False)
                else:
                    await self.members.silence(channel, False)
            except DeskError as exc:
                log.warning("hold of %s: %s %s failed: %s", who, step, channel, exc)

    async def _release(self, agent: Agent) -> None:
        """The music stopped and both directions unmuted (whatever is gone already is fine;
        a failure is logged: the call must not stay silent because of one refusal)."""
        music, agent.hold_music = agent.hold_music, None
        steps: list[tuple[str, str]] = [("hangup", c) for c in music or ()]
        steps += [("unmute", agent.caller_channel or ""),
                  ("unsilence", agent.agent_channel or "")]
        await self._steps(agent.username, steps)
