"""The AMI actions the desk sends: queue membership (``QueueAdd`` / ``QueuePause`` /
``QueueRemove``), ``Redirect`` of an agent's caller, ``QueueStatus``, the queue
configuration push, for hold and supervisors ``Originate`` / ``MuteAudio`` / ``Hangup``, and
for the consultative transfer ``Setvar`` / ``Atxfer`` / ``CancelAtxfer`` / ``PlayDTMF``.
Each refusal is a :class:`DeskError` in Chinese (503: no connection or no answer; 502:
Asterisk refused)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from callcenter.agents.state import Agent, DeskError
from callcenter.queues.services import Membership, QueueConfigPusher, QueueService
from ivr.ami.client import AmiClient, AmiError


@dataclass
class QueueStatus:
    """What ``QueueStatus`` reported: the members by (queue, interface), the waiting callers'
    uniqueids."""

    members: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    queued: set[str] = field(default_factory=set)


# VOLUME(RX) gain that divides every sample by this: silence, the frames still flowing
SILENT_GAIN = -32767


class QueueMembers:
    def __init__(self, ami: AmiClient | None, queues: QueueService,
                 dialer: AmiClient | None = None) -> None:
        self.ami = ami
        # Originate goes through a second account that may do nothing else (manager.conf)
        self.dialer = dialer
        self.pusher = QueueConfigPusher(queues, ami) if ami is not None else None

    @property
    def ready(self) -> bool:
        return self.ami is not None and self.ami.ready

    def _need_ami(self) -> AmiClient:
        if self.ami is None or not self.ami.ready:
            raise DeskError("与交换机（Asterisk）的连接暂不可用，请稍后再试", 503)
        return self.ami

    async def _action(self, action: dict[str, Any], ok_messages: tuple[str, ...] = (),
                      via: AmiClient | None = None) -> None:
        ami = self._need_ami() if via is None else via
        if not ami.ready:
            raise DeskError("与交换机（Asterisk）的连接暂不可用，请稍后再试", 503)
        try:
            response = await ami.send_action(action)
        except AmiError as exc:
            raise DeskError(f"交换机未执行操作：{exc}", 503) from exc
        if str(response.get("Response")) != "Success":
            message = str(response.get("Message", ""))
            if not any(m.lower() in message.lower() for m in ok_messages):
                raise DeskError(f"交换机拒绝了操作 {action['Action']}：{message}", 502)

    async def add(self, agent: Agent, membership: Membership, paused: bool,
                  reason: str | None) -> None:
        assert agent.interface is not None
        action: dict[str, Any] = {
            "Action": "QueueAdd", "Queue": membership.queue, "Interface": agent.interface,
            "MemberName": agent.username, "Penalty": str(membership.penalty),
            "Paused": "true" if paused else "false"}
        if paused and reason:
            action["Reason"] = reason
        await self._action(action, ok_messages=("already there",))

    async def pause(self, agent: Agent, paused: bool, reason: str | None) -> None:
        assert agent.interface is not None
        action: dict[str, Any] = {"Action": "QueuePause", "Interface": agent.interface,
                                  "Paused": "true" if paused else "false"}
        if reason:
            action["Reason"] = reason
        await self._action(action)

    async def remove(self, agent: Agent, queue: str, ok_messages: tuple[str, ...]) -> None:
        assert agent.interface is not None
        await self._action({"Action": "QueueRemove", "Queue": queue,
                            "Interface": agent.interface}, ok_messages=ok_messages)

    async def redirect(self, channel: str, queue: str) -> None:
        """Send ``channel`` to ``queue`` (the dialplan's ``hotline-queue``)."""
        await self._action({"Action": "Redirect", "Channel": channel,
                            "Context": "hotline-queue", "Exten": queue, "Priority": "1"})

    async def originate(self, channel: str, context: str, exten: str,
                        variables: dict[str, str], **extra: str) -> None:
        """``Originate`` (asynchronous) of ``channel`` into ``context``/``exten``, on the
        Originate-only account."""
        if self.dialer is None:
            raise DeskError("交换机未配置外呼账号（HOTLINE_AMI_DIAL_USER），无法保持或监听", 503)
        await self._action({
            "Action": "Originate", "Channel": channel, "Context": context, "Exten": exten,
            "Priority": "1", "Async": "true",
            "Variable": [f"{k}={v}" for k, v in variables.items()], **extra}, via=self.dialer)

    async def mute(self, channel: str, on: bool) -> None:
        """Mute (or unmute) what Asterisk reads from ``channel`` (``MuteAudio``, in)."""
        await self._action({"Action": "MuteAudio", "Channel": channel, "Direction": "in",
                            "State": "on" if on else "off"},
                           ok_messages=() if on else ("no such channel", "not found"))

    async def silence(self, channel: str, on: bool) -> None:
        """Turn what Asterisk reads from ``channel`` down to nothing (``VOLUME(RX)``), or back:
        unlike ``MuteAudio``, which drops the frames, the frames go on (silent), so that audio
        whispered into the other party (hold's music) has frames to ride on."""
        await self._action({"Action": "Setvar", "Channel": channel, "Variable": "VOLUME(RX)",
                            "Value": str(SILENT_GAIN if on else 0)},
                           ok_messages=() if on else ("no such channel", "not found"))

    async def hangup(self, channel: str) -> None:
        """Hang ``channel`` (a name or a uniqueid) up; gone already is fine."""
        await self._action({"Action": "Hangup", "Channel": channel},
                           ok_messages=("no such channel",))

    async def setvar(self, channel: str, name: str, value: str) -> None:
        """Set the variable ``name`` of ``channel`` (``__`` first: inherited by its calls)."""
        await self._action({"Action": "Setvar", "Channel": channel, "Variable": name,
                            "Value": value})

    async def atxfer(self, channel: str, exten: str, context: str) -> None:
        """Start an attended transfer of ``channel``'s call to ``exten@context``
        (callcenter/agents/consult.py)."""
        await self._action({"Action": "Atxfer", "Channel": channel, "Exten": exten,
                            "Context": context})

    async def cancel_atxfer(self, channel: str) -> None:
        """Abort the attended transfer ``channel`` started (none any more is fine)."""
        await self._action({"Action": "CancelAtxfer", "Channel": channel},
                           ok_messages=("no such channel", "no attended transfer"))

    async def receive_dtmf(self, channel: str, digit: str) -> None:
        """``digit`` as if ``channel``'s phone had sent it (a feature code)."""
        await self._action({"Action": "PlayDTMF", "Channel": channel, "Digit": digit,
                            "Receive": "yes"})

    async def status(self) -> QueueStatus:
        """Asterisk's members and waiting callers (raises :class:`AmiError`)."""
        assert self.ami is not None
        response = await self.ami.send_action({"Action": "QueueStatus"}, as_list=True,
                                              timeout=10)
        found = QueueStatus()
        for message in response if isinstance(response, list) else []:
            kind = str(message.get("Event", "")).lower()
            info = {k.lower(): str(v) for k, v in message.items()}
            if kind == "queuemember":
                iface = info.get("stateinterface") or info.get("location", "")
                found.members[(info.get("queue", ""), iface)] = info
            elif kind == "queueentry":
                found.queued.add(info.get("uniqueid", ""))
        return found

    async def channels(self) -> list[dict[str, str]]:
        """Asterisk's live channels (``CoreShowChannels``), each ``CoreShowChannel`` event's
        headers with lower-case names (raises :class:`AmiError`)."""
        assert self.ami is not None
        response = await self.ami.send_action({"Action": "CoreShowChannels"}, as_list=True,
                                              timeout=10)
        return [{k.lower(): str(v) for k, v in message.items()}
                for message in (response if isinstance(response, list) else [])
                if str(message.get("Event", "")).lower() == "coreshowchannel"]

    async def push_config(self) -> None:
        """The queue configuration to Asterisk (after a (re)connection: the resync)."""
        if self.pusher is not None:
            await self.pusher.push()

    async def push_queues(self) -> bool:
        """The queue configuration to Asterisk now (an administrator's change); False when
        there is no connection."""
        if self.pusher is None or not self.ready:
            return False
        await self.pusher.push()
        return True
