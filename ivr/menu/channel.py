"""What the menu needs of a call's channel, as Protocols: :class:`Channel` (prompts, keys,
hang-up, redirect; ``ivr.agi.AgiChannel`` or a fake in unit tests) and
:class:`RecordingChannel` (also records the caller: speech input, voice messages).

Shared by the engine and the node runners of :mod:`ivr.services`, which import this module
rather than the engine.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ivr.agi import Collected, Playback, PlayedHook

ALL_KEYS = "0123456789*#"


class Channel(Protocol):
    """What the engine needs of a call's channel (AgiChannel, or a fake in unit tests)."""

    linkedid: str

    async def play(self, prompts: list[str], escape_digits: str = ...) -> Playback:
        """Play prompts in turn; a key of ``escape_digits`` stops them (one pressed before
        keeps them from starting). What Asterisk reported for each prompt; a hang-up during
        the playback is reported, not raised. Keys stay with the channel for the next input."""
        ...

    async def collect_digits(self, prompt: str, timeout_ms: int = ..., max_digits: int = ...,
                             on_played: PlayedHook | None = ...) -> Collected:
        """Play ``prompt`` (any key stops it), call ``on_played`` with its playback as soon
        as it ends, then take keys, those typed ahead first (none when the playback failed or
        was cut)."""
        ...

    def take_key(self) -> str | None:
        """The first key the caller pressed that no input has used yet, taken."""
        ...

    async def hangup(self) -> None: ...

    async def redirect(self, context: str, exten: str, priority: int = ...) -> None: ...


@runtime_checkable
class RecordingChannel(Protocol):
    """A channel that can also record the caller (speech input, voice messages)."""

    linkedid: str
    caller_number: str

    async def record(self, path: str, fmt: str = ..., escape_digits: str = ...,
                     timeout_ms: int = ..., silence_s: int = ..., beep: bool = ...
                     ) -> str | None: ...

    async def set_variable(self, name: str, value: str) -> None: ...
