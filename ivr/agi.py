"""AsyncAGI over AMI: one :class:`AgiChannel` per call.

An AGI command is sent as the AMI ``AGI`` action with our own ``CommandID``; Asterisk answers
at once that the command is queued, and later reports its result in an ``AsyncAGIExec`` event
carrying the same ``CommandId``. :class:`AsyncAgi` matches the two, bounds the wait, and fails
every pending command of a channel when the channel hangs up (``ChannelHungUp``) or the AMI
connection drops (``AmiConnectionLost``).

Prompts report what Asterisk did with them (:class:`Playback`): played to the end, stopped by
a key (with the position reached, STREAM FILE's ``endpos``), not played because Asterisk could
not open the file, or cut by a hang-up. Asterisk 22 answers STREAM FILE on a file it cannot
open with ``200 result=-1 endpos=0`` (a hang-up reads ``result=-1`` with the position reached)
and then ends the AsyncAGI session, so the call leaves the menu: :class:`PromptFailed`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ivr.ami.client import AmiClient, AmiConnectionLost, AmiError, AmiTimeout
from ivr.ami.events import AsyncAgiEnd, AsyncAgiExec, Hangup

log = logging.getLogger(__name__)

DTMF_KEYS = "0123456789*#"


class AgiError(Exception):
    """An AGI command failed."""


class ChannelHungUp(AgiError):
    """The caller's channel is gone; the session must end. ``result`` is Asterisk's answer
    to the command, when one came (``200 result=-1 ...``)."""

    def __init__(self, message: str, result: AgiResult | None = None) -> None:
        super().__init__(message)
        self.result = result


class PromptFailed(AgiError):
    """Asterisk could not play a prompt (no such file) and ended the AsyncAGI session."""


@dataclass(frozen=True)
class AgiResult:
    """A parsed AGI response line such as ``200 result=49 endpos=12345``."""

    code: int
    result: str
    data: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, line: str) -> AgiResult:
        text = line.strip()
        match = re.match(r"^(\d{3})\s*(.*)$", text, flags=re.DOTALL)
        if not match:
            raise AgiError(f"unparseable AGI result {line!r}")
        code, rest = int(match.group(1)), match.group(2)
        result = ""
        data = ""
        extra: dict[str, str] = {}
        result_match = re.match(r"result=(\S*)\s*(?:\((.*?)\))?\s*(.*)$", rest, flags=re.DOTALL)
        if result_match:
            result = result_match.group(1)
            data = result_match.group(2) or ""
            for key, value in re.findall(r"(\w+)=(\S+)", result_match.group(3)):
                extra[key] = value
        else:
            data = rest
        return cls(code=code, result=result, data=data, extra=extra)

    @property
    def ok(self) -> bool:
        return self.code == 200 and self.result != "-1"

    @property
    def hung_up(self) -> bool:
        return self.code == 511 or (self.code == 200 and self.result == "-1")


class PromptStatus(enum.StrEnum):
    PLAYED = "played"            # to the end
    INTERRUPTED = "interrupted"  # stopped by a key (barge-in)
    FAILED = "failed"            # Asterisk could not play it (no such file)
    HUNG_UP = "hung_up"          # the caller hung up before it ended
    NOT_SENT = "not_sent"        # never sent: an earlier prompt was interrupted, failed or cut


@dataclass(frozen=True)
class PromptResult:
    """What Asterisk reported for one prompt; ``endpos`` is the sample (8 kHz) reached."""

    prompt: str
    status: PromptStatus
    key: str | None = None
    endpos: int | None = None


@dataclass(frozen=True)
class Playback:
    """The outcome of prompts sent to be played in turn, one result per prompt."""

    results: tuple[PromptResult, ...]

    @classmethod
    def through(cls, prompts: Sequence[str]) -> Playback:
        """Every prompt played to the end."""
        return cls(tuple(PromptResult(p, PromptStatus.PLAYED) for p in prompts))

    @property
    def heard(self) -> list[PromptResult]:
        """The prompts played, to the end or until a key stopped the last of them."""
        return [r for r in self.results
                if r.status in (PromptStatus.PLAYED, PromptStatus.INTERRUPTED)]

    @property
    def unheard(self) -> list[PromptResult]:
        return [r for r in self.results
                if r.status not in (PromptStatus.PLAYED, PromptStatus.INTERRUPTED)]

    @property
    def key(self) -> str | None:
        """The key that stopped the playback, if one did."""
        return next((r.key for r in self.results if r.status is PromptStatus.INTERRUPTED),
                    None)

    @property
    def stopped(self) -> PromptResult | None:
        """The prompt that ended the call's part in the menu: failed, or cut by a hang-up."""
        return next((r for r in self.results
                     if r.status in (PromptStatus.FAILED, PromptStatus.HUNG_UP)), None)

    def check(self, channel: str) -> None:
        """Raise what the caller of a playback must stop on: ChannelHungUp, PromptFailed."""
        stopped = self.stopped
        if stopped is None:
            return
        if stopped.status is PromptStatus.HUNG_UP:
            raise ChannelHungUp(channel)
        raise PromptFailed(f"{channel}: Asterisk could not play {stopped.prompt!r}")


@dataclass(frozen=True)
class Collected:
    """Keys collected after a prompt: ``digits`` (``#`` ends an entry and is not part of
    it), whether the wait timed out, and the prompt's :class:`Playback`."""

    digits: str
    timed_out: bool
    playback: Playback


PlayedHook = Callable[[Playback], None]


class AsyncAgi:
    """Matches AsyncAGIExec results to the commands that asked for them."""

    def __init__(self, client: AmiClient, command_timeout: float = 120.0) -> None:
        self.client = client
        self.command_timeout = command_timeout
        self._pending: dict[str, tuple[str, asyncio.Future[AgiResult]]] = {}
        self._active: set[str] = set()  # channels we have sent commands to
        self._gone: set[str] = set()  # of those, the ones that hung up
        # key turnaround (benchmarks/ivr_bench.py): seconds from the AsyncAGIExec that brought
        # the caller's key to the next AGI command sent on that channel; off unless a list
        self.turnarounds: list[float] | None = None
        self._key_at: dict[str, float] = {}
        client.on(AsyncAgiExec, self._on_exec)
        client.on(AsyncAgiEnd, self._on_end)
        client.on(Hangup, self._on_end)
        client.on_disconnect(self._on_disconnect)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def forget(self, channel: str) -> None:
        self._gone.discard(channel)
        self._active.discard(channel)

    async def execute(self, channel: str, command: str, timeout: float | None = None
                      ) -> AgiResult:
        """Run one AGI command on ``channel`` and return its result."""
        if channel in self._gone:
            raise ChannelHungUp(channel)
        self._active.add(channel)
        command_id = self.client.next_id("agi")
        if self.turnarounds is not None:
            key_at = self._key_at.pop(channel, None)
            if key_at is not None:
                self.turnarounds.append(time.perf_counter() - key_at)
        future: asyncio.Future[AgiResult] = asyncio.get_running_loop().create_future()
        self._pending[command_id] = (channel, future)
        try:
            response = await self.client.send_action(
                {"Action": "AGI", "Channel": channel, "Command": command,
                 "CommandID": command_id},
            )
            if response.get("Response", "").lower() != "success":
                message = str(response.get("Message", ""))
                if "does not exist" in message.lower() or "not in async" in message.lower():
                    self._gone.add(channel)
                    raise ChannelHungUp(f"{channel}: {message}")
                raise AgiError(f"AGI {command!r} refused: {message}")
            limit = self.command_timeout if timeout is None else timeout
            try:
                result = await asyncio.wait_for(future, limit)
            except TimeoutError as exc:
                raise AmiTimeout(f"AGI {command!r} on {channel}: no result in {limit} s") from exc
        finally:
            self._pending.pop(command_id, None)
        if result.hung_up:
            self._gone.add(channel)
            raise ChannelHungUp(channel, result)
        return result

    def _on_exec(self, event: AsyncAgiExec) -> None:
        entry = self._pending.get(event.command_id)
        if entry is None:
            return
        channel, future = entry
        if future.done():
            return
        try:
            result = AgiResult.parse(event.result)
        except AgiError as exc:
            future.set_exception(exc)
            return
        if self.turnarounds is not None and result.code == 200 and result.result not in (
                "", "0", "-1"):
            self._key_at[channel] = time.perf_counter()  # a key (or digits) came back
        future.set_result(result)

    def _on_end(self, event: AsyncAgiEnd | Hangup) -> None:
        if isinstance(event, Hangup):
            if event.channel not in self._active:
                return  # not one of ours (agent legs, Local channels): nothing to remember
            self._active.discard(event.channel)
        self._gone.add(event.channel)
        for channel, future in list(self._pending.values()):
            if channel == event.channel and not future.done():
                future.set_exception(ChannelHungUp(channel))

    def _on_disconnect(self) -> None:
        for _channel, future in list(self._pending.values()):
            if not future.done():
                future.set_exception(AmiConnectionLost("AMI connection lost during AGI"))


def _endpos(result: AgiResult) -> int | None:
    value = result.extra.get("endpos")
    return int(value) if value is not None and value.isdigit() else None


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class AgiChannel:
    """The call's channel as the menu engine sees it."""

    def __init__(self, agi: AsyncAgi, channel: str, uniqueid: str, linkedid: str,
                 env: Mapping[str, str] | None = None) -> None:
        self.agi = agi
        self.channel = channel
        self.uniqueid = uniqueid
        self.linkedid = linkedid
        self.env = dict(env or {})
        self.caller_number = self.env.get("agi_callerid", "")

    async def execute(self, command: str, timeout: float | None = None) -> AgiResult:
        return await self.agi.execute(self.channel, command, timeout)

    async def play(self, prompts: Sequence[str], escape_digits: str = DTMF_KEYS,
                   timeout_per_prompt: float = 120.0) -> Playback:
        """Play prompts in turn (STREAM FILE); a key in ``escape_digits`` stops them
        (barge-in). Returns what Asterisk reported for each prompt; a hang-up or a prompt
        Asterisk could not play ends the playback (see :meth:`Playback.check`)."""
        results: list[PromptResult] = []
        for prompt in prompts:
            try:
                result = await self.execute(
                    f"STREAM FILE {prompt} {_quote(escape_digits)}", timeout_per_prompt
                )
            except ChannelHungUp as exc:
                endpos = _endpos(exc.result) if exc.result is not None else None
                # result=-1 at position 0: the file could not be opened (a hang-up in the
                # very first instant reads the same)
                status = PromptStatus.FAILED if endpos == 0 else PromptStatus.HUNG_UP
                results.append(PromptResult(prompt, status, endpos=endpos))
                break
            if result.code != 200:
                raise AgiError(f"STREAM FILE {prompt}: {result}")
            if result.result not in ("", "0"):
                try:
                    key = chr(int(result.result))
                except ValueError as exc:
                    raise AgiError(f"STREAM FILE {prompt}: odd result {result}") from exc
                results.append(PromptResult(prompt, PromptStatus.INTERRUPTED, key,
                                            _endpos(result)))
                break
            results.append(PromptResult(prompt, PromptStatus.PLAYED, endpos=_endpos(result)))
        results += [PromptResult(p, PromptStatus.NOT_SENT) for p in prompts[len(results):]]
        return Playback(tuple(results))

    async def collect_digits(self, prompt: str, timeout_ms: int = 5000, max_digits: int = 1,
                             on_played: PlayedHook | None = None,
                             prompt_budget: float = 120.0) -> Collected:
        """Play ``prompt`` (any key stops it) and collect up to ``max_digits`` keys, waiting
        ``timeout_ms`` for each; ``#`` ends a longer entry. ``on_played`` hears the
        prompt's playback as soon as it ends, before the wait for keys.

        The prompt goes as STREAM FILE (GET DATA would not tell how it ended), the wait as
        WAIT FOR DIGIT (one key, ``#`` included) or GET DATA without a prompt. A failed or
        cut playback returns at once with no digits."""
        playback = await self.play([prompt], DTMF_KEYS, prompt_budget)
        if on_played is not None:
            on_played(playback)
        if playback.stopped is not None:
            return Collected("", False, playback)
        key = playback.key
        if max_digits <= 1:
            if key is None:
                key = await self.wait_for_digit(timeout_ms)
                return Collected(key or "", key is None, playback)
            return Collected(key, False, playback)
        if key == "#":
            return Collected("", False, playback)  # an empty entry, as GET DATA has it
        wanted = max_digits - (1 if key else 0)
        result = await self.execute(f'GET DATA "" {timeout_ms} {wanted}',
                                    timeout_ms / 1000 * (wanted + 1) + 5)
        if result.code != 200:
            raise AgiError(f"GET DATA after {prompt}: {result}")
        return Collected((key or "") + result.result, result.data == "timeout", playback)

    async def record(self, path: str, fmt: str = "wav", escape_digits: str = "#",
                     timeout_ms: int = 10000, silence_s: int = 0, beep: bool = False
                     ) -> str | None:
        """Record the caller into ``path``.``fmt`` (a path as Asterisk sees it, without the
        extension) until ``timeout_ms``, ``silence_s`` seconds of silence (0: no silence
        detection) or a key of ``escape_digits``, which is returned. ``beep`` plays the
        ``beep`` prompt first. A hang-up raises ChannelHungUp; what was recorded is kept."""
        if beep:
            (await self.play(["beep"], escape_digits="")).check(self.channel)
        command = f"RECORD FILE {path} {fmt} {_quote(escape_digits)} {timeout_ms} 0"
        if silence_s > 0:
            command += f" s={silence_s}"
        result = await self.execute(command, timeout_ms / 1000 + 10)
        if result.code != 200:
            raise AgiError(f"RECORD FILE {path}: {result}")
        if result.result in ("", "0") or not result.result.isdigit():
            return None
        return chr(int(result.result))

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        result = await self.execute(f"WAIT FOR DIGIT {timeout_ms}", timeout_ms / 1000 + 5)
        if result.result in ("", "0"):
            return None
        return chr(int(result.result))

    async def set_variable(self, name: str, value: str) -> None:
        await self.execute(f"SET VARIABLE {name} {_quote(value)}")

    async def hangup(self, cause: int = 16) -> None:
        """Hang up with a Q.850 cause (16, normal clearing, by default); AGI's HANGUP
        command would leave the cause unset."""
        response = await self.agi.client.send_action(
            {"Action": "Hangup", "Channel": self.channel, "Cause": str(cause)}
        )
        if str(response.get("Response", "")).lower() != "success":
            message = str(response.get("Message", ""))
            if "no such channel" not in message.lower():
                raise AgiError(f"Hangup of {self.channel} failed: {message}")

    async def redirect(self, context: str, exten: str, priority: int = 1) -> None:
        """Leave AsyncAGI and continue in the dialplan (e.g. a queue context)."""
        try:
            response = await self.agi.client.send_action({
                "Action": "Redirect", "Channel": self.channel, "Context": context,
                "Exten": exten, "Priority": str(priority),
            })
        except AmiError:
            raise
        if str(response.get("Response", "")).lower() != "success":
            message = str(response.get("Message", ""))
            if "no such channel" in message.lower():
                raise ChannelHungUp(f"{self.channel}: {message}")
            raise AgiError(f"Redirect to {exten}@{context} failed: {message}")
