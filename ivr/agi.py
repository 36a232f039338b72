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

Type-ahead: Asterisk only hands a key to the command that is running when it comes. A key
pressed while a prompt plays without barge-in, or between two commands (a queued AGI command
is picked up up to ~100 ms late), is read and dropped by Asterisk. Every key the caller's
channel receives is also announced on AMI (``DTMFEnd``, ``Direction: Received``; the ``dtmf``
class in the AMI user's read permissions): :class:`AsyncAgi` keeps them per call in a
:class:`KeyBuffer`, and the channel takes the caller's input from there. A key that a command
also reports (the key that stopped ``STREAM FILE``, ``RECORD FILE`` or ``WAIT FOR DIGIT``) is
the same key press and is counted once. The channel waits for keys on the buffer, so nothing
it waits for depends on a command running at the moment of the key; where DTMF events do not
arrive (a key a command reported never shows up as an event) it falls back to Asterisk's
``WAIT FOR DIGIT`` and says so in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ivr.ami.client import AmiClient, AmiConnectionLost, AmiError, AmiTimeout
from ivr.ami.events import AsyncAgiEnd, AsyncAgiExec, DtmfEnd, Hangup

log = logging.getLogger(__name__)

DTMF_KEYS = "0123456789*#"
# A caller told to end an entry with # presses it even when the entry is complete by its
# length (12 digits of a 10-12 digit code): a # within this many seconds after the entry's
# last key ends that entry, not the next input (it would cut the read-back short and be taken
# for a wrong key).
TERMINATOR_GRACE_S = 2.0


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
    TYPED_AHEAD = "typed_ahead"  # not sent: a key the caller had already pressed stops it
    FAILED = "failed"            # Asterisk could not play it (no such file)
    HUNG_UP = "hung_up"          # the caller hung up before it ended
    NOT_SENT = "not_sent"        # never sent: an earlier prompt was interrupted, failed or cut


@dataclass(frozen=True)
class PromptResult:
    """What Asterisk reported for one prompt; ``endpos`` is the sample (8 kHz) reached.
    ``key``: the key that stopped it (or, typed ahead, that kept it from starting);
    ``kept``: keys pressed while it played on, kept for the next input."""

    prompt: str
    status: PromptStatus
    key: str | None = None
    endpos: int | None = None
    kept: str = ""


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
        """The key that stopped the playback (or kept it from starting), if one did."""
        return next((r.key for r in self.results
                     if r.status in (PromptStatus.INTERRUPTED, PromptStatus.TYPED_AHEAD)),
                    None)

    @property
    def kept(self) -> str:
        """Keys pressed while prompts played on (no barge-in), kept for the next input."""
        return "".join(r.kept for r in self.results)

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


class KeyBuffer:
    """The keys one caller pressed, in order, that the menu has not used yet (type-ahead).

    Fed by AMI ``DTMFEnd`` events (:meth:`press`): every key the channel received, whatever
    Asterisk was doing. A key that an AGI result also reports (:meth:`reported`) is the same
    key press: it is matched with its event, never added twice. Should its event not arrive
    (DTMF events not delivered to us), the key is taken from the result instead, and its event,
    should it come late after all, is then ignored.
    """

    def __init__(self) -> None:
        self._keys: list[str] = []
        self.received = 0                        # keys heard since the buffer was opened
        self._unmatched: Counter[str] = Counter()  # heard, not (yet) reported by a command
        self._owed: Counter[str] = Counter()     # taken from a result before their event
        self._changed = asyncio.Event()
        self._closed: Callable[[], BaseException] | None = None
        self._interrupt: BaseException | None = None
        self._waiters = 0
        self._terminator_until: float | None = None  # loop time; see expect_terminator

    @property
    def pending(self) -> str:
        return "".join(self._keys)

    def first(self, among: str = DTMF_KEYS) -> str | None:
        """The first waiting key of ``among``, left in the buffer."""
        return next((k for k in self._keys if k in among), None)

    def take(self, among: str = DTMF_KEYS) -> str | None:
        """The first waiting key of ``among``, taken out of the buffer."""
        for index, key in enumerate(self._keys):
            if key in among:
                del self._keys[index]
                return key
        return None

    def expect_terminator(self, within: float = TERMINATOR_GRACE_S) -> None:
        """An entry just ended by its length: a ``#`` that follows within ``within`` seconds,
        before any other key, is the caller ending that entry and is dropped (one already
        waiting at once)."""
        if self._keys and self._keys[0] == "#":
            del self._keys[0]
            return
        if not self._keys:
            self._terminator_until = asyncio.get_running_loop().time() + within

    @property
    def terminator_expected(self) -> bool:
        """A ``#`` would still be taken for the end of the last entry (see above)."""
        until = self._terminator_until
        return until is not None and asyncio.get_running_loop().time() < until

    def press(self, key: str) -> bool:
        """A key the channel received (a DTMFEnd event); False when it was already counted
        (taken from a command's result before its event came), was the terminator of an entry
        already complete (:meth:`expect_terminator`) or the buffer is closed."""
        if self._closed is not None or key not in DTMF_KEYS or len(key) != 1:
            return False
        if self._owed[key] > 0:
            self._owed[key] -= 1
            return False
        expected = self.terminator_expected
        self._terminator_until = None
        if expected and key == "#":
            return False
        self._add(key)
        self._unmatched[key] += 1
        return True

    def _add(self, key: str) -> None:
        self._keys.append(key)
        self.received += 1
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _until(self, ready: Callable[[], bool], timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._waiters += 1
        try:
            while not ready():
                if self._closed is not None:
                    raise self._closed()
                if self._interrupt is not None:
                    error, self._interrupt = self._interrupt, None
                    raise error
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)
            return True
        finally:
            self._waiters -= 1

    async def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a key; True when one is waiting. Raises what
        :meth:`close` (whatever is waiting) or :meth:`interrupt` gave."""
        return await self._until(lambda: bool(self._keys) and self._closed is None, timeout)

    async def reported(self, keys: str, timeout: float) -> bool:
        """``keys`` were reported by an AGI result: wait up to ``timeout`` seconds for the
        event of each that has not been heard yet. False when a key's event did not come (the
        key is then kept from the result)."""
        complete = True
        for key in keys:
            await self._until(self._heard_or_closed(key), timeout)
            if self._unmatched[key] > 0:
                self._unmatched[key] -= 1
            elif self._closed is None:
                self._add(key)
                self._owed[key] += 1
                complete = False
        return complete

    def _heard_or_closed(self, key: str) -> Callable[[], bool]:
        return lambda: self._unmatched[key] > 0 or self._closed is not None

    def interrupt(self, error: BaseException) -> None:
        """Make a current wait raise ``error`` (e.g. the AMI connection was lost)."""
        if self._waiters:
            self._interrupt = error
            self._wake()

    def close(self, error: Callable[[], BaseException]) -> None:
        """The call has left the menu: every wait raises ``error()`` from now on."""
        self._closed = error
        self._wake()


class AsyncAgi:
    """Matches AsyncAGIExec results to the commands that asked for them, and keeps the keys
    each caller pressed (:class:`KeyBuffer`, from DTMFEnd events)."""

    def __init__(self, client: AmiClient, command_timeout: float = 120.0,
                 event_wait: float = 0.5) -> None:
        self.client = client
        self.command_timeout = command_timeout
        # how long a key a command reported may wait for its DTMFEnd event (they normally
        # come before the command's result: both are published on the channel's topic)
        self.event_wait = event_wait
        # False once a key a command reported never came as a DTMFEnd event (the AMI user
        # cannot read the dtmf class): waits then go to Asterisk (WAIT FOR DIGIT)
        self.dtmf_events = True
        self._pending: dict[str, tuple[str, asyncio.Future[AgiResult]]] = {}
        self._active: set[str] = set()  # channels we have sent commands to
        self._gone: set[str] = set()  # of those, the ones that hung up
        self._keys: dict[str, KeyBuffer] = {}  # channels in a menu session
        # key turnaround (benchmarks/ivr_bench.py): seconds from the moment the bridge had the
        # caller's key (its DTMFEnd; for a key that stopped a command, that command's
        # AsyncAGIExec, which the menu waits for) to the next AGI command sent on that
        # channel; off unless a list
        self.turnarounds: list[float] | None = None
        self._key_at: dict[str, float] = {}
        client.on(AsyncAgiExec, self._on_exec)
        client.on(AsyncAgiEnd, self._on_end)
        client.on(Hangup, self._on_end)
        client.on(DtmfEnd, self._on_dtmf)
        client.on_disconnect(self._on_disconnect)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def forget(self, channel: str) -> None:
        self._gone.discard(channel)
        self._active.discard(channel)

    def open_keys(self, channel: str) -> KeyBuffer:
        """A new, empty key buffer for ``channel`` (a menu session starts on it)."""
        old = self._keys.pop(channel, None)
        if old is not None:
            old.close(lambda: ChannelHungUp(f"{channel}: a new menu session took over"))
        buffer = KeyBuffer()
        self._keys[channel] = buffer
        return buffer

    async def reported(self, channel: str, buffer: KeyBuffer, keys: str) -> None:
        """Keys a command on ``channel`` reported: counted once with their DTMFEnd events."""
        if not keys:
            return
        if await buffer.reported(keys, self.event_wait if self.dtmf_events else 0.0):
            return
        if self.dtmf_events:
            self.dtmf_events = False
            log.error("%s: key %r came in an AGI result but not as a DTMFEnd event: is the dtmf "
                      "class in the AMI user's read permissions (manager.conf)? Until DTMF "
                      "events arrive, Asterisk waits for keys (WAIT FOR DIGIT) and keys "
                      "pressed between commands or during prompts without barge-in are lost",
                      channel, keys)

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
            self._key_at[channel] = time.perf_counter()  # a key stopped the command
        future.set_result(result)

    def _on_dtmf(self, event: DtmfEnd) -> None:
        if event.direction.lower() != "received":
            return  # a key Asterisk sent (to an agent, say), not one the caller pressed
        buffer = self._keys.get(event.channel)
        if buffer is None:
            return  # not a channel in a menu session (agents, queues, Local legs)
        if not self.dtmf_events:
            log.warning("DTMF events arrive again (%s): type-ahead is back", event.channel)
            self.dtmf_events = True
        if buffer.press(event.digit) and self.turnarounds is not None:
            self._key_at.setdefault(event.channel, time.perf_counter())

    def _on_end(self, event: AsyncAgiEnd | Hangup) -> None:
        if isinstance(event, Hangup) and event.channel not in self._active:
            buffer = self._keys.pop(event.channel, None)
            if buffer is not None:
                channel = event.channel
                buffer.close(lambda: ChannelHungUp(channel))
            return  # not one of ours (agent legs, Local channels): nothing to remember
        self.channel_gone(event.channel)

    def channel_gone(self, channel: str) -> None:
        """``channel`` no longer exists (its Hangup came, or the reconciliation after an AMI
        outage did not find it): what waits on it fails with ChannelHungUp, and later
        commands do at once."""
        buffer = self._keys.pop(channel, None)
        if buffer is not None:
            buffer.close(lambda: ChannelHungUp(channel))
        self._active.discard(channel)
        self._gone.add(channel)
        for pending_channel, future in list(self._pending.values()):
            if pending_channel == channel and not future.done():
                future.set_exception(ChannelHungUp(channel))

    def _on_disconnect(self) -> None:
        for _channel, future in list(self._pending.values()):
            if not future.done():
                future.set_exception(AmiConnectionLost("AMI connection lost during AGI"))
        for buffer in self._keys.values():
            buffer.interrupt(AmiConnectionLost("AMI connection lost while waiting for a key"))


def _endpos(result: AgiResult) -> int | None:
    value = result.extra.get("endpos")
    return int(value) if value is not None and value.isdigit() else None


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class AgiChannel:
    """The call's channel as the menu engine sees it. Opening one starts the call's key
    buffer (:attr:`keys`): keys pressed from then on are the menu's input."""

    def __init__(self, agi: AsyncAgi, channel: str, uniqueid: str, linkedid: str,
                 env: Mapping[str, str] | None = None) -> None:
        self.agi = agi
        self.channel = channel
        self.uniqueid = uniqueid
        self.linkedid = linkedid
        self.env = dict(env or {})
        self.caller_number = self.env.get("agi_callerid", "")
        self.keys = agi.open_keys(channel)

    async def execute(self, command: str, timeout: float | None = None) -> AgiResult:
        return await self.agi.execute(self.channel, command, timeout)

    def take_key(self, among: str = DTMF_KEYS) -> str | None:
        """The first key the caller pressed that the menu has not used yet (taken)."""
        return self.keys.take(among)

    async def _reported(self, keys: str) -> None:
        await self.agi.reported(self.channel, self.keys, keys)

    async def play(self, prompts: Sequence[str], escape_digits: str = DTMF_KEYS,
                   timeout_per_prompt: float = 120.0) -> Playback:
        """Play prompts in turn (STREAM FILE); a key in ``escape_digits`` stops them
        (barge-in), a key already waiting (typed ahead) before one starts too. Keys pressed
        during prompts without barge-in are kept (``kept``). Returns what Asterisk reported for
        each prompt; a hang-up or a prompt Asterisk could not play ends the playback (see
        :meth:`Playback.check`). Keys stay in :attr:`keys` for the input that uses them."""
        results: list[PromptResult] = []
        for prompt in prompts:
            if self.keys.terminator_expected:
                # the # that may still come ends the last entry: it must not stop this
                escape_digits = escape_digits.replace("#", "")
            waiting = self.keys.first(escape_digits) if escape_digits else None
            if waiting is not None:
                results.append(PromptResult(prompt, PromptStatus.TYPED_AHEAD, waiting))
                break
            heard_before = self.keys.received
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
                await self._reported(key)
                results.append(PromptResult(prompt, PromptStatus.INTERRUPTED, key,
                                            _endpos(result)))
                break
            during = self.keys.received - heard_before
            kept = self.keys.pending[-during:] if during > 0 else ""
            results.append(PromptResult(prompt, PromptStatus.PLAYED, endpos=_endpos(result),
                                        kept=kept))
        results += [PromptResult(p, PromptStatus.NOT_SENT) for p in prompts[len(results):]]
        return Playback(tuple(results))

    async def collect_digits(self, prompt: str, timeout_ms: int = 5000, max_digits: int = 1,
                             on_played: PlayedHook | None = None,
                             prompt_budget: float = 120.0) -> Collected:
        """Play ``prompt`` (any key stops it; a key already pressed keeps it from starting)
        and collect up to ``max_digits`` keys, keys typed ahead first, waiting ``timeout_ms``
        for each further one; ``#`` ends a longer entry (a single key may be ``#``).
        ``on_played`` hears the prompt's playback as soon as it ends, before the wait for
        keys. A failed or cut playback returns at once with no digits."""
        playback = await self.play([prompt], DTMF_KEYS, prompt_budget)
        if on_played is not None:
            on_played(playback)
        if playback.stopped is not None:
            return Collected("", False, playback)
        digits = ""
        while len(digits) < max_digits:
            key = await self.next_key(timeout_ms)
            if key is None:
                return Collected(digits, True, playback)
            if key == "#" and max_digits > 1:
                break  # ends the entry (an empty one when first), as GET DATA has it
            digits += key
        if max_digits > 1 and len(digits) == max_digits:
            self.keys.expect_terminator()  # complete by its length: a # may still follow
        return Collected(digits, False, playback)

    async def next_key(self, timeout_ms: int) -> str | None:
        """The caller's next key: one typed ahead, or the first within ``timeout_ms``."""
        key = self.keys.take()
        if key is not None:
            return key
        if self.agi.dtmf_events:
            if await self.keys.wait(timeout_ms / 1000):
                return self.keys.take()
            return None
        # DTMF events do not arrive: Asterisk waits for the key
        result = await self.execute(f"WAIT FOR DIGIT {timeout_ms}", timeout_ms / 1000 + 5)
        if result.result in ("", "0"):
            return self.keys.take()
        try:
            key = chr(int(result.result))
        except ValueError as exc:
            raise AgiError(f"WAIT FOR DIGIT: odd result {result}") from exc
        await self._reported(key)
        return self.keys.take() or key

    async def record(self, path: str, fmt: str = "wav", escape_digits: str = "#",
                     timeout_ms: int = 10000, silence_s: int = 0, beep: bool = False
                     ) -> str | None:
        """Record the caller into ``path``.``fmt`` (a path as Asterisk sees it, without the
        extension) until ``timeout_ms``, ``silence_s`` seconds of silence (0: no silence
        detection) or a key of ``escape_digits``, which is returned (taken from the keys; one
        already waiting returns at once, with nothing recorded). ``beep`` plays the ``beep``
        prompt first. A hang-up raises ChannelHungUp; what was recorded is kept."""
        if beep:
            (await self.play(["beep"], escape_digits="")).check(self.channel)
        if escape_digits and self.keys.first(escape_digits) is not None:
            return self.keys.take(escape_digits)
        command = f"RECORD FILE {path} {fmt} {_quote(escape_digits)} {timeout_ms} 0"
        if silence_s > 0:
            command += f" s={silence_s}"
        result = await self.execute(command, timeout_ms / 1000 + 10)
        if result.code != 200:
            raise AgiError(f"RECORD FILE {path}: {result}")
        if result.result in ("", "0") or not result.result.isdigit():
            return None
        key = chr(int(result.result))
        await self._reported(key)
        return self.keys.take(escape_digits) or key

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
