"""Typed AMI events: the ones the bridge consumes, parsed from raw header mappings.

Unknown events become :class:`AmiEvent` (name + headers); a consumed event whose headers are
missing or malformed becomes a :class:`MalformedEvent`, so nothing a peer sends can make the
reader raise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar
from urllib.parse import unquote

Headers = Mapping[str, Any]


def _get(headers: Headers, name: str, default: str = "") -> str:
    for key, value in headers.items():
        if key.lower() == name.lower():
            if isinstance(value, list):
                return str(value[-1])
            return str(value)
    return default


def _get_int(headers: Headers, name: str) -> int:
    raw = _get(headers, name, "0").strip() or "0"
    try:
        return int(float(raw))
    except ValueError as exc:
        raise ValueError(f"header {name} is not a number: {raw!r}") from exc


@dataclass(frozen=True)
class AmiEvent:
    """Any AMI event. ``headers`` keeps the raw values."""

    name: str
    headers: Mapping[str, Any] = field(repr=False, default_factory=dict)

    event_name: ClassVar[str] = ""

    def header(self, key: str, default: str = "") -> str:
        return _get(self.headers, key, default)

    @classmethod
    def parse(cls, name: str, headers: Headers) -> AmiEvent:
        return cls(name=name, headers=headers)


@dataclass(frozen=True)
class MalformedEvent(AmiEvent):
    """An event we consume whose headers could not be parsed."""

    error: str = ""


@dataclass(frozen=True)
class ChannelEvent(AmiEvent):
    """An event about one channel (the channel snapshot headers)."""

    channel: str = ""
    uniqueid: str = ""
    linkedid: str = ""
    caller_id_num: str = ""

    @classmethod
    def channel_fields(cls, headers: Headers) -> dict[str, str]:
        return {
            "channel": _get(headers, "Channel"),
            "uniqueid": _get(headers, "Uniqueid"),
            "linkedid": _get(headers, "Linkedid") or _get(headers, "Uniqueid"),
            "caller_id_num": _get(headers, "CallerIDNum"),
        }

    @classmethod
    def parse(cls, name: str, headers: Headers) -> AmiEvent:
        return cls(name=name, headers=headers, **cls.channel_fields(headers))


def parse_agi_env(raw: str) -> dict[str, str]:
    """Decode the URL-encoded ``Env`` of AsyncAGIStart into ``{agi_channel: ...}``."""
    env: dict[str, str] = {}
    for line in unquote(raw).splitlines():
        key, sep, value = line.partition(":")
        if sep:
            env[key.strip()] = value.strip()
    return env


@dataclass(frozen=True)
class FullyBooted(AmiEvent):
    event_name = "FullyBooted"


@dataclass(frozen=True)
class Shutdown(AmiEvent):
    event_name = "Shutdown"


@dataclass(frozen=True)
class AsyncAgiStart(ChannelEvent):
    event_name = "AsyncAGIStart"
    env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, name: str, headers: Headers) -> AmiEvent:
        return cls(name=name, headers=headers, env=parse_agi_env(_get(headers, "Env")),
                   **cls.channel_fields(headers))


@dataclass(frozen=True)
class AsyncAgiExec(ChannelEvent):
    event_name = "AsyncAGIExec"
    command_id: str = ""
    result: str = ""

    @classmethod
    def parse(cls, name: str, headers: Headers) -> AmiEvent:
        command_id = _get(headers, "CommandId")
        if not command_id:
            raise ValueError("AsyncAGIExec without CommandId")
        # panoramisk has already URL-decoded Result; decoding again would corrupt a "%"
        return cls(name=name, headers=headers, command_id=command_id,
                   result=_get(headers, "Result"), **cls.channel_fields(headers))


@dataclass(frozen=True)
class AsyncAgiEnd(ChannelEvent):
    event_name = "AsyncAGIEnd"


@dataclass(frozen=True)
class Hangup(ChannelEvent):
    event_name = "Hangup"
    cause: int = 0
    cause_txt: str = ""

    @classmethod
    def parse(cls, name: str, headers: Headers) -> AmiEvent:
        return cls(name=name, headers=headers, cause=_get_int(headers, "Cause"),
                   cause_txt=_get(headers, "Cause-txt"), **cls.channel_fields(headers))


@dataclass(frozen=True)
class DtmfEnd(ChannelEvent):
    event_name = "DTMFEnd"
    digit: str = ""
    direction: str = ""

    @classmethod
    def parse(cls, name: str, headers: Headers) -> AmiEvent:
        return cls(name=name, headers=headers, digit=_get(headers, "Digit"),
                   direction=_get(headers, "Direction"), **cls.channel_fields(headers))


@dataclass(frozen=True)
class QueueEvent(ChannelEvent):
    """Queue events about the caller's channel."""

    queue: str = ""
    position: int = 0
    hold_time: int = 0
    talk_time: int = 0
    ring_time: int = 0
    member: str = ""
    member_name: str = ""
    reason: str = ""

    @classmethod
    def parse(cls, name: str, headers: Headers) -> AmiEvent:
        return cls(
            name=name, headers=headers, queue=_get(headers, "Queue"),
            position=_get_int(headers, "Position"), hold_time=_get_int(headers, "HoldTime"),
            talk_time=_get_int(headers, "TalkTime"), ring_time=_get_int(headers, "RingTime"),
            member=_get(headers, "Interface"), member_name=_get(headers, "MemberName"),
            reason=_get(headers, "Reason"), **cls.channel_fields(headers),
        )


@dataclass(frozen=True)
class QueueCallerJoin(QueueEvent):
    event_name = "QueueCallerJoin"


@dataclass(frozen=True)
class QueueCallerLeave(QueueEvent):
    event_name = "QueueCallerLeave"


@dataclass(frozen=True)
class QueueCallerAbandon(QueueEvent):
    event_name = "QueueCallerAbandon"


@dataclass(frozen=True)
class AgentCalled(QueueEvent):
    event_name = "AgentCalled"


@dataclass(frozen=True)
class AgentConnect(QueueEvent):
    event_name = "AgentConnect"


@dataclass(frozen=True)
class AgentComplete(QueueEvent):
    event_name = "AgentComplete"


@dataclass(frozen=True)
class AgentRingNoAnswer(QueueEvent):
    event_name = "AgentRingNoAnswer"


@dataclass(frozen=True)
class CoreShowChannel(ChannelEvent):
    event_name = "CoreShowChannel"
    application: str = ""

    @classmethod
    def parse(cls, name: str, headers: Headers) -> AmiEvent:
        return cls(name=name, headers=headers, application=_get(headers, "Application"),
                   **cls.channel_fields(headers))


EVENT_TYPES: dict[str, type[AmiEvent]] = {
    cls.event_name.lower(): cls
    for cls in (
        FullyBooted, Shutdown, AsyncAgiStart, AsyncAgiExec, AsyncAgiEnd, Hangup, DtmfEnd,
        QueueCallerJoin, QueueCallerLeave, QueueCallerAbandon, AgentCalled, AgentConnect,
        AgentComplete, AgentRingNoAnswer, CoreShowChannel,
    )
}

E = TypeVar("E", bound=AmiEvent)


def parse_event(headers: Headers) -> AmiEvent:
    """Turn raw headers into a typed event; never raises."""
    name = _get(headers, "Event")
    cls = EVENT_TYPES.get(name.lower())
    if cls is None:
        return AmiEvent(name=name, headers=headers)
    try:
        return cls.parse(name, headers)
    except (ValueError, TypeError, KeyError) as exc:
        return MalformedEvent(name=name, headers=headers, error=str(exc))
