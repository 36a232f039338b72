"""MenuSession on a scripted fake channel: what is played, what is recorded, how calls end."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from callcenter.settings import PROJECT_ROOT
from ivr.agi import (
    AgiError,
    ChannelHungUp,
    Collected,
    Playback,
    PlayedHook,
    PromptResult,
    PromptStatus,
)
from ivr.ami.client import AmiConnectionLost, AmiNotConnected, AmiTimeout
from ivr.clock import FixedClock
from ivr.menu.engine import QUEUE_CONTEXT, MenuSession
from ivr.menu.loader import load_menu, parse_menu
from ivr.menu.schema import Menu
from ivr.ports import ContactEvent, EventKind
from ivr.prompts import readback
from ivr.services import IvrServices

LINKEDID = "1700000000.42"
ALL_KEYS = "0123456789*#"
KEY_ENDPOS = 4000  # where a scripted key stops a prompt (half a second in)

Call = tuple[Any, ...]


class FakeChannel:
    """A channel whose caller follows a script, with the real channel's key buffer.

    ``answers`` are the caller's keys for successive ``collect_digits`` calls ("" = no input;
    no input once exhausted), pressed after the prompt (keys beyond what the input takes are
    typed ahead for the next one); ``play_keys`` the keys pressed during successive ``play``
    calls that play (None = none): with barge-in the first stops the first prompt, at
    ``KEY_ENDPOS``; without, the prompt plays on. Every key pressed goes to the buffer
    (``keys``), which inputs take from first; a key waiting there keeps a barge-in prompt from
    starting (typed ahead). ``missing`` are prompts Asterisk cannot play. ``fail_at`` maps a
    1-based step (every channel call is a step) to the exception that call raises, once.
    ``calls`` logs every call, failed ones included.
    """

    def __init__(
        self,
        answers: Iterable[str] = (),
        play_keys: Iterable[str | None] = (),
        fail_at: Mapping[int, BaseException] | None = None,
        missing: Iterable[str] = (),
    ) -> None:
        self.linkedid = LINKEDID
        self.answers = list(answers)
        self.play_keys = list(play_keys)
        self.fail_at = dict(fail_at or {})
        self.missing = set(missing)
        self.keys: list[str] = []
        self.calls: list[Call] = []

    def _step(self, call: Call) -> None:
        self.calls.append(call)
        failure = self.fail_at.pop(len(self.calls), None)
        if failure is not None:
            raise failure

    def _playback(self, prompts: list[str], escape_digits: str, pressed: str | None
                  ) -> Playback:
        waiting = next((k for k in self.keys if k in escape_digits), None)
        if waiting is not None:
            return Playback((PromptResult(prompts[0], PromptStatus.TYPED_AHEAD, waiting),
                             *(PromptResult(p, PromptStatus.NOT_SENT) for p in prompts[1:])))
        results: list[PromptResult] = []
        for prompt in prompts:
            if prompt in self.missing:
                results.append(PromptResult(prompt, PromptStatus.FAILED, endpos=0))
                break
            if pressed:
                self.keys.extend(pressed)
                if pressed[0] in escape_digits:
                    results.append(PromptResult(prompt, PromptStatus.INTERRUPTED, pressed[0],
                                                KEY_ENDPOS))
                    break
                results.append(PromptResult(prompt, PromptStatus.PLAYED, kept=pressed))
                pressed = None
                continue
            results.append(PromptResult(prompt, PromptStatus.PLAYED))
        results += [PromptResult(p, PromptStatus.NOT_SENT) for p in prompts[len(results):]]
        return Playback(tuple(results))

    async def play(self, prompts: list[str], escape_digits: str = ALL_KEYS) -> Playback:
        self._step(("play", tuple(prompts), escape_digits))
        typed_ahead = any(k in escape_digits for k in self.keys)
        pressed = None if typed_ahead or not self.play_keys else self.play_keys.pop(0)
        return self._playback(prompts, escape_digits, pressed)

    async def collect_digits(self, prompt: str, timeout_ms: int = 5000, max_digits: int = 1,
                             on_played: PlayedHook | None = None) -> Collected:
        self._step(("collect", prompt, timeout_ms, max_digits))
        playback = self._playback([prompt], ALL_KEYS, None)
        if on_played is not None:
            on_played(playback)
        if playback.stopped is not None:
            return Collected("", False, playback)
        digits = ""
        answered = False
        while len(digits) < max_digits:
            if not self.keys:
                if answered or not self.answers:
                    return Collected(digits, True, playback)
                self.keys.extend(self.answers.pop(0))  # pressed after the prompt
                answered = True
                continue
            key = self.keys.pop(0)
            if key == "#" and max_digits > 1:
                break
            digits += key
        return Collected(digits, False, playback)

    def take_key(self) -> str | None:
        return self.keys.pop(0) if self.keys else None

    async def hangup(self) -> None:
        self._step(("hangup",))

    async def redirect(self, context: str, exten: str, priority: int = 1) -> None:
        self._step(("redirect", context, exten, priority))

    @property
    def played(self) -> list[str]:
        """Prompt ids in the order the caller heard them (collect_digits plays its prompt)."""
        out: list[str] = []
        for call in self.calls:
            if call[0] == "play":
                out.extend(call[1])
            elif call[0] == "collect":
                out.append(call[1])
        return out

    @property
    def hangups(self) -> int:
        return sum(1 for call in self.calls if call[0] == "hangup")


class ListRecorder:
    def __init__(self) -> None:
        self.events: list[ContactEvent] = []

    def record(self, event: ContactEvent) -> None:
        self.events.append(event)

    async def flush(self) -> None:
        return None

    async def open_contacts(self) -> list[str]:
        return []

    def kinds(self) -> list[EventKind]:
        return [e.kind for e in self.events]

    def data(self, kind: EventKind) -> list[dict[str, Any]]:
        return [dict(e.data) for e in self.events if e.kind is kind]


def menu_of(text: str) -> Menu:
    return parse_menu(textwrap.dedent(text), "test.yaml")


MAIN = menu_of("""
    version: 1
    start: welcome
    nodes:
      welcome:
        type: play
        prompts: [welcome]
        barge_in: false
        next: main
      main:
        type: menu
        prompt: main_menu
        timeout_ms: 4000
        retries: 2
        invalid_prompt: invalid_input
        no_input_prompt: no_input
        options:
          "1": faq
          "0": agent
        fallback: bye_no_input
      faq:
        type: play
        prompts: [answer_vat_law]
        service: faq
        detail: vat.law.effective_date
        next: bye
      agent:
        type: transfer
        prompt: transfer_agent
        queue: consult
      bye:
        type: hangup
        prompt: goodbye
      bye_no_input:
        type: hangup
        prompt: goodbye_no_input
        reason: max_retries
    """)


# a Tuesday, 10:00 in Shanghai
CLOCK = FixedClock(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))


def session_for(menu: Menu, channel: FakeChannel, **kwargs: Any) -> tuple[MenuSession,
                                                                          ListRecorder]:
    recorder = ListRecorder()
    return MenuSession(menu, channel, recorder, IvrServices(clock=CLOCK), **kwargs), recorder


# -- happy paths ----------------------------------------------------------------------------


async def test_key_1_plays_the_answer_and_says_goodbye() -> None:
    channel = FakeChannel(answers=["1"])
    session, recorder = session_for(MAIN, channel)
    await session.run()

    assert channel.calls == [
        ("play", ("welcome",), ""),
        ("collect", "main_menu", 4000, 1),
        ("play", ("answer_vat_law",), ALL_KEYS),
        ("play", ("goodbye",), ""),
        ("hangup",),
    ]
    sent, heard = EventKind.PROMPT_SENT, EventKind.PROMPT
    assert recorder.kinds() == [
        EventKind.MENU_NODE, sent, heard,                            # welcome
        EventKind.MENU_NODE, sent, heard, EventKind.DIGITS,          # main
        EventKind.MENU_NODE, sent, heard, EventKind.SELF_SERVICE,    # faq
        EventKind.MENU_NODE, sent, heard, EventKind.IVR_HANGUP,      # bye
    ]
    assert recorder.data(EventKind.DIGITS) == [{"node": "main", "digits": "1"}]
    assert recorder.data(EventKind.SELF_SERVICE) == [
        {"node": "faq", "service": "faq", "detail": "vat.law.effective_date"}
    ]
    assert recorder.data(EventKind.IVR_HANGUP) == [{"node": "bye", "reason": "completed"}]
    assert recorder.data(EventKind.MENU_NODE)[0] == {"node": "welcome", "type": "play"}
    assert all(e.linkedid == LINKEDID for e in recorder.events)
    assert session.path == ["welcome", "main", "faq", "bye"]
    assert session.ended_by == "ivr_hangup"


async def test_key_0_transfers_to_the_consult_queue() -> None:
    channel = FakeChannel(answers=["0"])
    session, recorder = session_for(MAIN, channel)
    await session.run()

    assert channel.calls[-2:] == [
        ("play", ("transfer_agent",), ""),
        ("redirect", "hotline-queue", "consult", 1),
    ]
    assert QUEUE_CONTEXT == "hotline-queue"
    assert channel.hangups == 0
    assert recorder.data(EventKind.TRANSFER) == [{"node": "agent", "queue": "consult"}]
    assert recorder.kinds()[-1] is EventKind.TRANSFER
    assert EventKind.IVR_HANGUP not in recorder.kinds()
    assert EventKind.SELF_SERVICE not in recorder.kinds()
    assert session.path == ["welcome", "main", "agent"]
    assert session.ended_by == "transfer"


async def test_shipped_menu_key_1() -> None:
    # 1 consultation -> 1 VAT -> 1 the VAT law FAQ; without a knowledge base the FAQ node
    # hands the caller to the VAT queue (the answer itself: tests/unit/test_menu_nodes.py)
    channel = FakeChannel(answers=["1", "1", "1"])
    session, recorder = session_for(load_menu(PROJECT_ROOT / "ivr/menus/12366.yaml"), channel)
    await session.run()
    assert channel.played[:4] == ["welcome", "main_menu", "consult_menu", "cat_vat_menu"]
    assert recorder.data(EventKind.ESCALATED)[0]["faq_id"] == "vat.law.effective_date"
    assert channel.calls[-1] == ("redirect", "hotline-queue", "tax-vat", 1)


# -- retries --------------------------------------------------------------------------------


@pytest.mark.parametrize("retries", [0, 1, 2, 3])
async def test_no_input_on_every_try_falls_back(retries: int) -> None:
    menu = menu_of(f"""
        version: 1
        start: main
        nodes:
          main:
            type: menu
            prompt: main_menu
            retries: {retries}
            no_input_prompt: no_input
            invalid_prompt: invalid_input
            options: {{"1": bye}}
            fallback: bye_no_input
          bye:
            type: hangup
          bye_no_input:
            type: hangup
            prompt: goodbye_no_input
            reason: max_retries
        """)
    channel = FakeChannel(answers=[""] * (retries + 1))
    session, recorder = session_for(menu, channel)
    await session.run()

    tries = retries + 1
    assert recorder.data(EventKind.NO_INPUT) == [
        {"node": "main", "attempt": n} for n in range(1, tries + 1)
    ]
    # the menu prompt of every try, and the no-input prompt before each try after the first
    assert recorder.data(EventKind.PROMPT)[:2 * tries - 1] == [
        {"node": "main", "prompts": ["main_menu"], "attempt": 1},
        *[event for n in range(2, tries + 1) for event in (
            {"node": "main", "prompts": ["no_input"], "retry": n},
            {"node": "main", "prompts": ["main_menu"], "attempt": n})],
    ]
    # the no-input prompt between tries, never after the last one
    assert channel.played == ["main_menu", "no_input"] * retries + [
        "main_menu", "goodbye_no_input"]
    assert recorder.data(EventKind.IVR_HANGUP) == [
        {"node": "bye_no_input", "reason": "max_retries"}
    ]
    assert EventKind.DIGITS not in recorder.kinds()
    assert channel.calls[-1] == ("hangup",)
    assert session.path == ["main", "bye_no_input"]


async def test_invalid_key_then_valid_key() -> None:
    channel = FakeChannel(answers=["7", "1"])
    session, recorder = session_for(MAIN, channel)
    await session.run()

    assert recorder.data(EventKind.INVALID_INPUT) == [
        {"node": "main", "digits": "7", "attempt": 1}
    ]
    assert recorder.data(EventKind.DIGITS) == [{"node": "main", "digits": "1"}]
    assert channel.played == ["welcome", "main_menu", "invalid_input", "main_menu",
                              "answer_vat_law", "goodbye"]
    assert EventKind.NO_INPUT not in recorder.kinds()
    assert session.path == ["welcome", "main", "faq", "bye"]


async def test_mixed_bad_input_uses_the_matching_retry_prompt() -> None:
    channel = FakeChannel(answers=["7", "", "#"])
    session, recorder = session_for(MAIN, channel)
    await session.run()

    assert recorder.data(EventKind.INVALID_INPUT) == [
        {"node": "main", "digits": "7", "attempt": 1},
        {"node": "main", "digits": "#", "attempt": 3},
    ]
    assert recorder.data(EventKind.NO_INPUT) == [{"node": "main", "attempt": 2}]
    assert channel.played == ["welcome", "main_menu", "invalid_input", "main_menu", "no_input",
                              "main_menu", "goodbye_no_input"]
    assert recorder.data(EventKind.IVR_HANGUP)[0]["reason"] == "max_retries"


async def test_menu_without_retry_prompts_only_repeats_itself() -> None:
    menu = menu_of("""
        version: 1
        start: main
        nodes:
          main:
            type: menu
            prompt: main_menu
            retries: 1
            options: {"1": bye}
            fallback: bye
          bye:
            type: hangup
        """)
    channel = FakeChannel(answers=["", "1"])
    session, _ = session_for(menu, channel)
    await session.run()
    assert channel.calls == [
        ("collect", "main_menu", 5000, 1),
        ("collect", "main_menu", 5000, 1),
        ("hangup",),
    ]


# -- barge-in -------------------------------------------------------------------------------


async def test_barge_in_during_a_play_node_stops_it_and_keeps_the_key() -> None:
    channel = FakeChannel(answers=["1"], play_keys=[None, "3"])
    session, recorder = session_for(MAIN, channel)
    await session.run()

    assert channel.calls[2] == ("play", ("answer_vat_law",), ALL_KEYS)
    assert recorder.data(EventKind.PROMPT)[2] == {
        "node": "faq", "prompts": ["answer_vat_law"], "interrupted_by": "3",
        "endpos": KEY_ENDPOS}
    # a play node takes no input: its key is the next input's (none here: the goodbye
    # plays on and the call ends), never a second key of its own
    assert recorder.data(EventKind.DIGITS) == [{"node": "main", "digits": "1"}]
    assert channel.keys == ["3"]
    # interrupted or not, the answer was given
    assert recorder.data(EventKind.SELF_SERVICE)[0]["node"] == "faq"
    assert session.path == ["welcome", "main", "faq", "bye"]


async def test_keys_during_a_play_node_without_barge_in_are_the_next_inputs() -> None:
    # the caller presses 1 during the welcome (which plays on): the menu takes it at once
    channel = FakeChannel(play_keys=["1"])
    session, recorder = session_for(MAIN, channel)
    await session.run()

    assert channel.calls[0] == ("play", ("welcome",), "")
    assert recorder.data(EventKind.PROMPT_SENT)[:2] == [
        {"node": "welcome", "prompts": ["welcome"], "on_key": "keep"},
        {"node": "main", "prompts": ["main_menu"], "on_key": "barge_in", "attempt": 1}]
    assert recorder.data(EventKind.PROMPT)[0] == {"node": "welcome", "prompts": ["welcome"],
                                                  "kept": "1"}
    assert recorder.data(EventKind.PROMPT_UNHEARD)[0] == {
        "node": "main", "prompts": ["main_menu"], "reason": "typeahead", "key": "1",
        "attempt": 1}
    assert recorder.data(EventKind.DIGITS) == [{"node": "main", "digits": "1"}]
    assert session.path == ["welcome", "main", "faq", "bye"]
    assert "main_menu" not in [p for d in recorder.data(EventKind.PROMPT) for p in d["prompts"]]


async def test_keys_typed_ahead_walk_the_menu_without_its_prompts() -> None:
    # 1, 1, 1 pressed during the welcome: consultation, VAT, the VAT law FAQ; no menu prompt
    # is played and no key is lost
    channel = FakeChannel(play_keys=["111"])
    session, recorder = session_for(load_menu(PROJECT_ROOT / "ivr/menus/12366.yaml"), channel)
    await session.run()

    assert recorder.data(EventKind.DIGITS) == [
        {"node": "main", "digits": "1"}, {"node": "consult", "digits": "1"},
        {"node": "cat_vat", "digits": "1"}]
    assert [(d["node"], d["reason"], d["key"]) for d in recorder.data(EventKind.PROMPT_UNHEARD)
            ] == [("main", "typeahead", "1"), ("consult", "typeahead", "1"),
                  ("cat_vat", "typeahead", "1")]
    assert channel.played[0] == "welcome"
    assert recorder.data(EventKind.ESCALATED)[0]["faq_id"] == "vat.law.effective_date"
    assert channel.keys == []


async def test_keys_during_a_retry_prompt_are_the_next_tries() -> None:
    # 7 is no option; 1 pressed while "invalid input" plays on: the next try takes it
    channel = FakeChannel(answers=["7"], play_keys=[None, "1"])
    session, recorder = session_for(MAIN, channel)
    await session.run()

    assert recorder.data(EventKind.INVALID_INPUT) == [
        {"node": "main", "digits": "7", "attempt": 1}]
    retry = [d for d in recorder.data(EventKind.PROMPT) if "retry" in d]
    assert retry == [{"node": "main", "prompts": ["invalid_input"], "retry": 2, "kept": "1"}]
    assert recorder.data(EventKind.DIGITS) == [{"node": "main", "digits": "1"}]
    assert session.path == ["welcome", "main", "faq", "bye"]


async def test_keys_beyond_an_entry_are_the_next_inputs() -> None:
    # 3 digits wanted; 1231 pressed at once: 123 is the entry, the 1 confirms it during the
    # read-back, which is then not played at all
    channel = FakeChannel(answers=["1231"])
    session, recorder = session_for(NEWS, channel)
    await session.run()

    assert session.vars["number"] == "123"
    assert recorder.data(EventKind.DIGITS) == [{"node": "pin", "digits": "123"},
                                               {"node": "pin", "digits": "1"}]
    assert recorder.data(EventKind.PROMPT_UNHEARD) == [
        {"node": "pin", "prompts": ["you_entered", *readback.say_digits("123")],
         "reason": "typeahead", "key": "1"}]


# -- what was sent, what was heard ---------------------------------------------------------

NEWS = menu_of("""
    version: 1
    start: news
    nodes:
      news:
        type: play
        prompts: [welcome, hours_intro, goodbye]
        next: pin
      pin:
        type: collect
        prompt: enter_number
        max_digits: 3
        readback: digits
        readback_prompt: you_entered
        confirm_prompt: confirm_entry
        store: number
        next: bye
        fallback: bye
      bye:
        type: hangup
    """)


async def test_a_key_during_prompts_records_what_was_heard_and_what_was_not() -> None:
    # 5 stops the play node's prompts and is the first digit of the entry that follows
    channel = FakeChannel(answers=["12", "1"], play_keys=["5", None])
    session, recorder = session_for(NEWS, channel)
    await session.run()

    news = [(e.kind, dict(e.data)) for e in recorder.events if e.data.get("node") == "news"]
    assert news == [
        (EventKind.MENU_NODE, {"node": "news", "type": "play"}),
        (EventKind.PROMPT_SENT, {"node": "news", "on_key": "barge_in",
                                 "prompts": ["welcome", "hours_intro", "goodbye"]}),
        (EventKind.PROMPT, {"node": "news", "prompts": ["welcome"], "interrupted_by": "5",
                            "endpos": KEY_ENDPOS}),
        (EventKind.PROMPT_UNHEARD, {"node": "news", "prompts": ["hours_intro", "goodbye"],
                                    "reason": "barge_in"}),
    ]
    assert recorder.data(EventKind.PROMPT_UNHEARD)[1] == {
        "node": "pin", "prompts": ["enter_number"], "reason": "typeahead", "key": "5",
        "attempt": 1}
    assert session.vars["number"] == "512"


async def test_a_key_during_the_read_back_answers_without_the_confirm_prompt() -> None:
    # 123 entered, then 1 (yes) pressed while the entry is read back
    channel = FakeChannel(answers=["123"], play_keys=[None, "1"])
    session, recorder = session_for(NEWS, channel)
    await session.run()

    assert session.vars["number"] == "123"
    sent = [d["prompts"] for d in recorder.data(EventKind.PROMPT_SENT) if d["node"] == "pin"]
    spoken = readback.say_digits("123")
    assert sent == [["enter_number"], ["you_entered", *spoken]]
    assert ("collect", "confirm_entry", 5000, 1) not in channel.calls
    assert recorder.data(EventKind.PROMPT_UNHEARD) == [
        {"node": "pin", "prompts": spoken, "reason": "barge_in"}]


@pytest.mark.parametrize(("missing", "node", "heard"), [
    ("welcome", "welcome", []),
    ("main_menu", "main", ["welcome"]),
    ("answer_vat_law", "faq", ["welcome", "main_menu"]),
    ("goodbye", "bye", ["welcome", "main_menu", "answer_vat_law"]),
])
async def test_a_prompt_asterisk_cannot_play_is_not_heard_and_ends_the_menu(
    missing: str, node: str, heard: list[str],
) -> None:
    channel = FakeChannel(answers=["1"], missing=[missing])
    session, recorder = session_for(MAIN, channel)
    await session.run()

    assert [p for d in recorder.data(EventKind.PROMPT) for p in d["prompts"]] == heard
    assert recorder.data(EventKind.PROMPT_UNHEARD) == [
        {"node": node, "prompts": [missing], "reason": "failed",
         **({"attempt": 1} if node == "main" else {})}]
    assert recorder.data(EventKind.IVR_HANGUP) == [{"node": node, "reason": "prompt_failed"}]
    assert session.ended_by == "prompt_failed"
    assert channel.calls[-1] == ("hangup",)
    # no key is waited for after a prompt that was not played
    assert channel.answers == (["1"] if node in ("welcome", "main") else [])
    # an answer Asterisk could not play served nobody
    assert (EventKind.SELF_SERVICE in recorder.kinds()) == (node == "bye")


@pytest.mark.parametrize(("step", "node", "prompt"), [
    (1, "welcome", "welcome"),    # during a play
    (2, "main", "main_menu"),     # during a menu's prompt
])
async def test_a_hangup_during_a_prompt_records_it_unheard(step: int, node: str,
                                                           prompt: str) -> None:
    channel = FakeChannel(fail_at={step: ChannelHungUp("gone")})
    session, recorder = session_for(MAIN, channel)
    await session.run()

    assert session.ended_by == "caller_hangup"
    unheard = recorder.data(EventKind.PROMPT_UNHEARD)
    assert [(d["node"], d["prompts"], d["reason"]) for d in unheard] == [
        (node, [prompt], "hangup")]
    assert prompt not in [p for d in recorder.data(EventKind.PROMPT) for p in d["prompts"]]


async def test_a_hangup_while_waiting_for_keys_leaves_the_prompt_heard() -> None:
    class HangsUpWhileWaiting(FakeChannel):
        async def collect_digits(self, prompt: str, timeout_ms: int = 5000,
                                 max_digits: int = 1, on_played: PlayedHook | None = None
                                 ) -> Collected:
            self._step(("collect", prompt, timeout_ms, max_digits))
            assert on_played is not None
            on_played(Playback.through([prompt]))
            raise ChannelHungUp("gone while waiting")

    channel = HangsUpWhileWaiting()
    session, recorder = session_for(MAIN, channel)
    await session.run()

    assert session.ended_by == "caller_hangup"
    assert recorder.data(EventKind.PROMPT)[-1] == {"node": "main", "prompts": ["main_menu"],
                                                   "attempt": 1}
    assert recorder.kinds()[-1] is EventKind.PROMPT
    assert EventKind.PROMPT_UNHEARD not in recorder.kinds()


# -- the caller hangs up --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "step", "last_node"),
    [
        ([], 1, "welcome"),             # play node
        ([], 2, "main"),                # menu node, while collecting
        ([""], 3, "main"),              # menu node, during the no-input prompt
        (["0"], 3, "agent"),            # transfer node, during its prompt
        (["0"], 4, "agent"),            # transfer node, at the redirect
        (["1"], 3, "faq"),              # play node with a service
        (["1"], 4, "bye"),              # hangup node, during the goodbye
    ],
    ids=["play", "menu-collect", "menu-retry-prompt", "transfer-prompt", "transfer-redirect",
         "service-play", "hangup-prompt"],
)
async def test_caller_hangs_up(answers: list[str], step: int, last_node: str) -> None:
    channel = FakeChannel(answers=answers, fail_at={step: ChannelHungUp("gone")})
    session, recorder = session_for(MAIN, channel)
    await session.run()

    assert session.ended_by == "caller_hangup"
    assert len(channel.calls) == step  # nothing after the hangup
    assert channel.hangups == 0
    assert session.path[-1] == last_node
    assert EventKind.IVR_HANGUP not in recorder.kinds()
    # served only when the caller heard the whole answer before hanging up
    assert (EventKind.SELF_SERVICE in recorder.kinds()) == (last_node == "bye")


# -- AMI trouble ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "step", "node", "error"),
    [
        (["1"], 2, "main", AmiConnectionLost("connection reset")),
        (["1"], 1, "welcome", AmiTimeout("no response")),
        (["1"], 3, "faq", AmiNotConnected("down")),
    ],
    ids=["menu-lost", "play-timeout", "service-not-connected"],
)
async def test_ami_lost_mid_node_resumes_the_node(
    answers: list[str], step: int, node: str, error: Exception
) -> None:
    channel = FakeChannel(answers=answers, fail_at={step: error})
    reconnects: list[int] = []

    async def wait_reconnect() -> None:
        reconnects.append(len(channel.calls))

    session, recorder = session_for(MAIN, channel, wait_reconnect=wait_reconnect)
    await session.run()

    assert reconnects == [step]  # awaited once, right after the failed call
    assert recorder.data(EventKind.RESUMED) == [{"node": node, "reason": type(error).__name__}]
    # the node runs again from its start: the failed call is made a second time
    assert channel.calls[step] == channel.calls[step - 1]
    assert session.path.count(node) == 2
    resumed_at = recorder.kinds().index(EventKind.RESUMED)
    assert recorder.events[resumed_at + 1].kind is EventKind.MENU_NODE
    assert recorder.events[resumed_at + 1].data["node"] == node
    # and the call goes on to its normal end
    assert channel.played[-2:] == ["answer_vat_law", "goodbye"]
    assert recorder.data(EventKind.SELF_SERVICE) == [
        {"node": "faq", "service": "faq", "detail": "vat.law.effective_date"}
    ]
    assert session.ended_by == "ivr_hangup"
    assert channel.hangups == 1


async def test_ami_lost_for_good_ends_the_session() -> None:
    channel = FakeChannel(answers=["1"], fail_at={2: AmiConnectionLost("reset")})
    waited: list[bool] = []

    async def wait_reconnect() -> None:
        waited.append(True)
        raise AmiNotConnected("not back in time")

    session, recorder = session_for(MAIN, channel, wait_reconnect=wait_reconnect)
    await session.run()

    assert waited == [True]
    assert session.ended_by == "ami_lost"
    assert len(channel.calls) == 2
    assert channel.hangups == 0
    assert EventKind.RESUMED not in recorder.kinds()
    assert EventKind.IVR_HANGUP not in recorder.kinds()


async def test_ami_lost_without_reconnect_propagates() -> None:
    channel = FakeChannel(fail_at={1: AmiConnectionLost("reset")})
    session, recorder = session_for(MAIN, channel)
    with pytest.raises(AmiConnectionLost, match="reset"):
        await session.run()
    assert EventKind.RESUMED not in recorder.kinds()


async def test_agi_failure_hangs_up() -> None:
    channel = FakeChannel(fail_at={2: AgiError("GET DATA main_menu: 510")})
    session, recorder = session_for(MAIN, channel)
    await session.run()
    assert recorder.data(EventKind.IVR_HANGUP) == [{"node": "main", "reason": "agi_error"}]
    assert channel.calls[-1] == ("hangup",)
    assert len(channel.calls) == 3


# -- loop guard -----------------------------------------------------------------------------

LOOP = menu_of("""
    version: 1
    start: a
    nodes:
      a:
        type: play
        prompts: [welcome]
        next: a
    """)


@pytest.mark.parametrize("max_steps", [1, 5, 20])
async def test_loop_stops_at_max_steps(max_steps: int) -> None:
    channel = FakeChannel()
    session, recorder = session_for(LOOP, channel, max_steps=max_steps)
    await session.run()

    assert channel.played == ["welcome"] * max_steps
    assert session.path == ["a"] * max_steps
    assert recorder.kinds().count(EventKind.MENU_NODE) == max_steps
    assert recorder.events[-1].kind is EventKind.IVR_HANGUP
    assert recorder.data(EventKind.IVR_HANGUP) == [{"node": "a", "reason": "loop_guard"}]
    assert channel.calls[-1] == ("hangup",)
    assert channel.hangups == 1


async def test_loop_guard_survives_a_failing_hangup() -> None:
    channel = FakeChannel(fail_at={4: ChannelHungUp("already gone")})
    session, recorder = session_for(LOOP, channel, max_steps=3)
    await session.run()  # must not raise
    assert channel.calls[-1] == ("hangup",)
    assert recorder.data(EventKind.IVR_HANGUP) == [{"node": "a", "reason": "loop_guard"}]
