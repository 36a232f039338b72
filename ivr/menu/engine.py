"""The menu engine: one :class:`MenuSession` per call walks the menu tree over the channel.

Every step lands in the contact timeline (node entered, prompts, keys, speech, FAQ ids, service
results). Waiting nodes share one input loop (:meth:`MenuSession.ask`): timeout, retries with
invalid- and no-input prompts, then the node's fallback, and the menu's global keys (back,
repeat, agent).

No key is lost (type-ahead): the caller's keys are kept in order by the channel (a key buffer
fed by Asterisk's DTMF events) and every input takes them from there, keys typed ahead first.
Each prompt is played one of two ways, recorded as ``on_key`` in its ``prompt_sent``:
``barge_in`` (a key stops it; one already pressed keeps it from starting) or ``keep`` (it
plays on, a notice say; keys pressed meanwhile are kept for the next input). A waiting node's
prompt, answers and read-backs have barge-in; the welcome, the hours notices, retry prompts
and goodbyes play on.

Prompts are recorded twice: ``prompt_sent`` when they go to Asterisk, then, from Asterisk's
answer, ``prompt`` for what the caller heard (to the end, or until a key: ``interrupted_by``,
``endpos``; keys pressed while it played on: ``kept``) and ``prompt_unheard`` for what was not
(``reason``: ``barge_in`` for prompts left out after a key, ``typeahead`` for prompts a key
pressed before them kept from starting, ``failed`` when Asterisk could not play one,
``hangup``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from ivr.agi import AgiError, ChannelHungUp, Playback, PromptFailed, PromptStatus
from ivr.ami.client import AmiConnectionLost, AmiNotConnected, AmiTimeout
from ivr.events import (
    Digits,
    EventRecord,
    InvalidInput,
    IvrHangup,
    MenuNodeEntered,
    NoInput,
    PromptHeard,
    PromptSent,
    PromptUnheard,
    Resumed,
    SelfService,
    ServiceResult,
    Survey,
    Transfer,
)
from ivr.menu import runners
from ivr.menu.channel import ALL_KEYS, Channel, RecordingChannel
from ivr.menu.schema import (
    CollectNode,
    HangupNode,
    HoursNode,
    Menu,
    MenuNode,
    PlayNode,
    ReturnNode,
    SpeechNode,
    SubflowNode,
    SurveyNode,
    TransferNode,
    _Waits,
)
from ivr.ports import ContactEvent, ContactRecorder
from ivr.prompts import readback
from ivr.services import IvrServices

log = logging.getLogger(__name__)

QUEUE_CONTEXT = "hotline-queue"
MAX_REPEATS = 5
__all__ = ["ALL_KEYS", "QUEUE_CONTEXT", "Channel", "Choice", "MenuSession", "RecordingChannel"]


@dataclass(frozen=True)
class Choice:
    """What the caller answered at a waiting node: ``digits``, or a node to go to because of a
    global key (``goto``), or nothing usable after every try (``failed``)."""

    digits: str = ""
    goto: str | None = None
    failed: bool = False


Validator = Callable[[str], bool]


@dataclass(frozen=True)
class _Try:
    """Which try of an input a prompt belongs to (``attempt``) or re-asks (``retry``)."""

    attempt: int | None = None
    retry: int | None = None


class MenuSession:
    def __init__(
        self,
        menu: Menu,
        channel: Channel,
        recorder: ContactRecorder,
        services: IvrServices,
        wait_reconnect: Callable[[], Awaitable[None]] | None = None,
        start_node: str | None = None,
        max_steps: int = 200,
    ) -> None:
        self.menu = menu
        self.channel = channel
        self.recorder = recorder
        self.wait_reconnect = wait_reconnect
        self.node_id = start_node or menu.start
        self.max_steps = max_steps
        self.services = services
        self.path: list[str] = []
        self.ended_by: str | None = None
        self.vars: dict[str, str] = {}
        self.history: list[str] = []        # waiting nodes visited, for the back key
        self.returns: list[str] = []        # sub-flow return addresses
        self.served = False
        self._recordings = 0

    def record(self, record: EventRecord) -> None:
        self.recorder.record(ContactEvent(self.channel.linkedid, record,
                                          at=self.services.clock()))

    async def run(self) -> None:
        """Walk the menu until the call leaves the IVR or hangs up."""
        steps = 0
        next_id: str | None = self.node_id
        while next_id is not None:
            steps += 1
            if steps > self.max_steps:
                log.error("menu loop on %s; ending the call", self.channel.linkedid)
                self.record(IvrHangup(node=next_id, reason="loop_guard"))
                await self._safe_hangup()
                return
            self.node_id = node_id = next_id
            try:
                next_id = await self._run_node(node_id)
            except ChannelHungUp:
                self.ended_by = "caller_hangup"
                return
            except (AmiConnectionLost, AmiNotConnected, AmiTimeout) as exc:
                if self.wait_reconnect is None:
                    raise
                log.warning("AMI trouble in node %s of %s (%s); waiting to resume",
                            node_id, self.channel.linkedid, exc)
                try:
                    await self.wait_reconnect()
                except AmiNotConnected:
                    self.ended_by = "ami_lost"
                    return
                except ChannelHungUp:  # gone during the outage (found by the reconciliation)
                    self.ended_by = "caller_hangup"
                    return
                self.record(Resumed(node=node_id, reason=type(exc).__name__))
            except PromptFailed as exc:
                log.error("%s in node %s; Asterisk ended the menu", exc, node_id)
                self.record(IvrHangup(node=node_id, reason="prompt_failed"))
                self.ended_by = "prompt_failed"
                await self._safe_hangup()
                return
            except AgiError:
                log.exception("AGI failure in node %s of %s", node_id, self.channel.linkedid)
                self.record(IvrHangup(node=node_id, reason="agi_error"))
                await self._safe_hangup()
                return

    async def _safe_hangup(self) -> None:
        try:
            await self.channel.hangup()
        except Exception:
            log.warning("hangup of %s failed", self.channel.linkedid, exc_info=True)

    async def _run_node(self, node_id: str) -> str | None:
        node = self.menu.nodes[node_id]
        self.path.append(node_id)
        self.record(MenuNodeEntered(node=node_id, type=node.type))
        if isinstance(node, MenuNode | SpeechNode) and (
                not self.history or self.history[-1] != node_id):
            self.history.append(node_id)
        runner = runners.runner_for(node.type)
        if runner is None:  # a service module not imported: a wiring mistake, not the caller's
            log.error("no runner for node %s of type %s on %s", node_id, node.type,
                      self.channel.linkedid)
            self.record(IvrHangup(node=node_id, reason="no_runner"))
            await self._safe_hangup()
            return None
        return await runner(self, node_id, node)

    # -- helpers used by the nodes and the service handlers ---------------------------------

    async def say(self, node_id: str, prompts: list[str], barge_in: bool = False,
                  *, attempt: int | None = None, retry: int | None = None) -> str | None:
        """Play prompts (recorded in the timeline). With ``barge_in`` a key stops them (one
        typed ahead keeps them from starting) and is the answer to them: it is taken from the
        caller's keys and returned. Without, they play to the end and keys pressed meanwhile
        are kept for the next input. A hang-up raises ChannelHungUp, a prompt Asterisk could
        not play PromptFailed."""
        playback = await self._say(node_id, prompts, barge_in, _Try(attempt, retry))
        if not barge_in or playback is None or playback.key is None:
            return None
        key = self.channel.take_key()
        return key if key is not None else playback.key

    async def announce(self, node_id: str, prompts: list[str]) -> str | None:
        """Play prompts that ask nothing (an answer, a result read out): a key stops them
        (barge-in) and is kept for the next input. Returns that key, left with the channel."""
        playback = await self._say(node_id, prompts, True, _Try())
        return playback.key if playback is not None else None

    async def _say(self, node_id: str, prompts: list[str], barge_in: bool,
                   tried: _Try) -> Playback | None:
        if not prompts:
            return None
        self.record(PromptSent(node=node_id, prompts=tuple(prompts),
                               on_key="barge_in" if barge_in else "keep",
                               attempt=tried.attempt, retry=tried.retry))
        try:
            playback = await self.channel.play(list(prompts),
                                               escape_digits=ALL_KEYS if barge_in else "")
        except ChannelHungUp:
            self.record(PromptUnheard(node=node_id, prompts=tuple(prompts), reason="hangup",
                                      attempt=tried.attempt, retry=tried.retry))
            raise
        self._record_playback(node_id, playback, tried)
        playback.check(self.channel.linkedid)
        return playback

    async def collect(self, node_id: str, prompt: str, timeout_ms: int, max_digits: int,
                      attempt: int | None = None) -> tuple[str, bool]:
        """Play ``prompt`` and wait for keys: (digits, timed out); recorded like say()."""
        tried = _Try(attempt)
        self.record(PromptSent(node=node_id, prompts=(prompt,), on_key="barge_in",
                               attempt=attempt))
        reported = False

        def played(playback: Playback) -> None:
            nonlocal reported
            if not reported:
                reported = True
                self._record_playback(node_id, playback, tried)

        try:
            collected = await self.channel.collect_digits(
                prompt, timeout_ms=timeout_ms, max_digits=max_digits, on_played=played)
        except ChannelHungUp:
            if not reported:
                self.record(PromptUnheard(node=node_id, prompts=(prompt,), reason="hangup",
                                          attempt=attempt))
            raise
        played(collected.playback)
        collected.playback.check(self.channel.linkedid)
        return collected.digits, collected.timed_out

    def _record_playback(self, node_id: str, playback: Playback,
                         tried: _Try) -> None:
        heard = playback.heard
        if heard:
            last = heard[-1]
            self.record(PromptHeard(
                node=node_id, prompts=tuple(r.prompt for r in heard),
                interrupted_by=last.key,
                endpos=last.endpos if last.key is not None else None,
                # pressed while it played on: the next input's
                kept=playback.kept or None,
                attempt=tried.attempt, retry=tried.retry))
        unheard = playback.unheard
        if unheard:
            first = unheard[0]
            reason = ("failed" if first.status is PromptStatus.FAILED
                      else "hangup" if first.status is PromptStatus.HUNG_UP
                      else "typeahead" if first.status is PromptStatus.TYPED_AHEAD
                      else "barge_in")  # left out after a key stopped an earlier prompt
            self.record(PromptUnheard(
                node=node_id, prompts=tuple(r.prompt for r in unheard), reason=reason,
                key=first.key if first.status is PromptStatus.TYPED_AHEAD else None,
                endpos=first.endpos or None, attempt=tried.attempt, retry=tried.retry))

    def served_by(self, node_id: str, service: str, detail: str | None) -> None:
        self.served = True
        self.record(SelfService(node=node_id, service=service, detail=detail))

    def global_target(self, node: _Waits, digits: str, options: Collection[str]) -> str | None:
        """The node a global key leads to, or None."""
        keys = self.menu.global_keys
        if not node.global_keys or len(digits) != 1 or digits in options:
            return None
        if keys.agent is not None and digits == keys.agent:
            return keys.agent_node
        if keys.back is not None and digits == keys.back:
            if len(self.history) >= 2:
                self.history.pop()               # the current node
                return self.history.pop()        # entered again, so pushed again
            return self.node_id
        return None

    def _is_repeat(self, node: _Waits, digits: str, options: Collection[str]) -> bool:
        key = self.menu.global_keys.repeat
        return node.global_keys and key is not None and digits == key and digits not in options

    async def ask(self, node_id: str, node: _Waits, prompt: str, *,
                  options: Collection[str] = (), max_digits: int = 1,
                  valid: Validator | None = None, lead: list[str] | None = None,
                  early: str | None = None, secret: bool = False) -> Choice:
        """Play ``lead`` (barge-in) then ``prompt`` and collect keys, with the node's retries.

        Keys are accepted when in ``options`` or passing ``valid``; global keys apply.
        ``early`` is a key the caller already pressed (during an answer, say), taken from the
        caller's keys; keys typed ahead beyond it are taken by the input itself."""
        attempts = node.retries + 1
        attempt = 0
        repeats = 0
        while attempt < attempts:
            attempt += 1
            if early is None and lead:
                early = await self.say(node_id, lead, barge_in=True)
            if early is not None and max_digits == 1:
                digits = early  # pressed during the lead: the prompt is not played
            else:
                wanted = max_digits - (1 if early is not None else 0)
                digits, _timed_out = await self.collect(node_id, prompt, node.timeout_ms,
                                                        wanted, attempt=attempt)
                if early is not None:
                    digits = early + digits
            early = None
            retry_prompt: str | None
            if not digits:
                self.record(NoInput(node=node_id, attempt=attempt))
                retry_prompt = node.no_input_prompt
            elif digits in options or (valid is not None and valid(digits)):
                self.record(Digits(node=node_id,
                            digits="*" * len(digits) if secret else digits))
                return Choice(digits=digits)
            elif self._is_repeat(node, digits, options) and repeats < MAX_REPEATS:
                repeats += 1
                attempt -= 1
                self.record(Digits(node=node_id, digits=digits, action="repeat"))
                continue
            elif (target := self.global_target(node, digits, options)) is not None:
                action = "agent" if digits == self.menu.global_keys.agent else "back"
                self.record(Digits(node=node_id, digits=digits, action=action))
                return Choice(digits=digits, goto=target)
            else:
                self.record(InvalidInput(node=node_id,
                            digits="*" * len(digits) if secret else digits, attempt=attempt))
                retry_prompt = node.invalid_prompt
            if retry_prompt and attempt < attempts:
                await self.say(node_id, [retry_prompt], retry=attempt + 1)
        return Choice(failed=True)

    # -- nodes ------------------------------------------------------------------------------

    async def _play(self, node_id: str, node: PlayNode) -> str:
        # a key stops a play node with barge-in and is the next input's (as any key pressed
        # during one without)
        if node.barge_in:
            await self.announce(node_id, list(node.prompts))
        else:
            await self.say(node_id, list(node.prompts))
        if node.service:
            self.served_by(node_id, node.service, node.detail)
        return node.next

    async def _menu(self, node_id: str, node: MenuNode) -> str:
        choice = await self.ask(node_id, node, node.prompt, options=node.options)
        if choice.goto is not None:
            return choice.goto
        if choice.failed:
            return node.fallback
        return node.options[choice.digits]

    async def _collect(self, node_id: str, node: CollectNode) -> str:
        pattern = re.compile(rf"^\d{{{node.min_digits},{node.max_digits}}}$"
                             if node.readback != "amount"
                             else r"^\d{1,9}(\*\d{1,2})?$")
        tries = node.retries + 1
        for _ in range(tries):
            choice = await self.ask(node_id, node, node.prompt, max_digits=node.max_digits,
                                    valid=lambda d: bool(pattern.match(d)),
                                    secret=node.secret)
            if choice.goto is not None:
                return choice.goto
            if choice.failed:
                return node.fallback
            value = choice.digits
            if node.readback is None:
                self.vars[node.store] = value
                return node.next
            assert node.readback_prompt is not None
            assert node.confirm_prompt is not None
            if node.readback == "amount":
                whole, _, cents = value.partition("*")
                fen = int(whole) * 100 + int((cents + "00")[:2])
                value = str(fen)
                spoken = readback.say_amount(fen)
            else:
                spoken = readback.say_digits(value)
            confirm = await self.ask(node_id, node, node.confirm_prompt, options=("1", "2"),
                                     lead=[node.readback_prompt, *spoken])
            if confirm.goto is not None:
                return confirm.goto
            if confirm.digits == "1":
                self.vars[node.store] = value
                return node.next
            if confirm.failed:
                return node.fallback
            # 2: enter again
        return node.fallback

    async def _hours(self, node_id: str, node: HoursNode) -> str:
        calendar = self.services.calendar
        now = self.services.clock()
        is_open = calendar.is_open(now) if calendar is not None else True
        # a holiday or make-up workday is named in the event ({"holiday": "春节"})
        notes = calendar.day_notes(calendar.local(now).date()) if calendar is not None else {}
        self.record(ServiceResult(node=node_id, service="hours",
                                  result="open" if is_open else "closed",
                                  details={"at": now.isoformat(), **notes}))
        if is_open:
            return node.open
        closed = (node.holiday_prompt if "holiday" in notes and node.holiday_prompt
                  else node.closed_prompt)
        prompts: list[str] = [closed] if closed else []
        if node.announce_hours and calendar is not None:
            hours = calendar.main_hours
            prompts += ["hours_intro", *readback.say_time(hours.open), "hours_to",
                        *readback.say_time(hours.close)]
        await self.say(node_id, prompts)
        return node.closed

    async def _survey(self, node_id: str, node: SurveyNode) -> str:
        choice = await self.ask(node_id, node, node.prompt, options=node.scores)
        if choice.goto is not None:
            return choice.goto
        if choice.failed:
            self.record(Survey(node=node_id, score=None))
            return node.next
        self.record(Survey(node=node_id, score=node.scores[choice.digits], key=choice.digits))
        if node.thanks_prompt:
            await self.say(node_id, [node.thanks_prompt])
        return node.next

    async def _subflow(self, node_id: str, node: SubflowNode) -> str:
        self.returns.append(node.next)
        return node.flow

    async def _return(self, node_id: str, node: ReturnNode) -> str | None:
        if not self.returns:
            log.error("return node %s outside a sub-flow on %s", node_id,
                      self.channel.linkedid)
            self.record(IvrHangup(node=node_id, reason="loop_guard"))
            await self._safe_hangup()
            return None
        return self.returns.pop()

    async def _transfer(self, node_id: str, node: TransferNode) -> None:
        if node.prompt:
            await self.say(node_id, [node.prompt])
        self.record(Transfer(node=node_id, queue=node.queue, skill=node.skill or None,
                             reason=node.reason or None))
        if isinstance(self.channel, RecordingChannel):
            await self.channel.set_variable("HOTLINE_SKILL", node.skill or node.queue)
        await self.channel.redirect(QUEUE_CONTEXT, node.queue)
        self.ended_by = "transfer"

    async def _hangup(self, node_id: str, node: HangupNode) -> None:
        if node.prompt:
            await self.say(node_id, [node.prompt])
        self.record(IvrHangup(node=node_id, reason=node.reason))
        self.ended_by = "ivr_hangup"
        await self.channel.hangup()

    def next_recording_name(self, kind: str) -> str:
        self._recordings += 1
        safe = re.sub(r"[^0-9A-Za-z_.-]", "_", self.channel.linkedid)
        return f"{kind}-{safe}-{self._recordings}"


for _node_type, _runner in (
        ("play", MenuSession._play), ("menu", MenuSession._menu),
        ("collect", MenuSession._collect), ("hours", MenuSession._hours),
        ("survey", MenuSession._survey), ("subflow", MenuSession._subflow),
        ("return", MenuSession._return), ("transfer", MenuSession._transfer),
        ("hangup", MenuSession._hangup)):
    runners.register(_node_type, _runner)


async def wait_forever() -> None:  # pragma: no cover - helper for callers without reconnect
    await asyncio.Event().wait()
