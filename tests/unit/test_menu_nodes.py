"""The node types of the full 12366 menu on a scripted channel (no Asterisk): collect with
read-back, global keys, FAQ by key and by question, speech, hours, survey, sub-flows, the
self-services, and a caller hanging up at every node type."""

from __future__ import annotations

import wave
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest

from callcenter.settings import PROJECT_ROOT
from ivr.agi import ChannelHungUp
from ivr.calendar import OpeningHours, ServiceCalendar
from ivr.clock import FixedClock
from ivr.menu.engine import MenuSession
from ivr.menu.loader import load_menu
from ivr.menu.schema import Menu
from ivr.ports import (
    BookingConfirmation,
    CallbackConfirmation,
    EventKind,
    FilingStatus,
    Hall,
    InvoiceCheck,
    PinCheck,
    Slot,
    TaxpayerStatus,
    TicketConfirmation,
    Transcript,
)
from ivr.prompts import readback
from ivr.prompts.answers import AnswerAudio
from ivr.services import IvrServices
from tests.ivr_support import knowledge_base
from tests.unit.test_menu_engine import FakeChannel, ListRecorder, menu_of

OPEN = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)      # Tuesday 10:00 in Shanghai
CLOSED = datetime(2026, 11, 29, 14, 0, tzinfo=UTC)  # Sunday 22:00 in Shanghai
CALENDAR = ServiceCalendar((OpeningHours((1, 2, 3, 4, 5), time(8, 30), time(17, 30)),),
                           frozenset({date(2026, 10, 1)}), frozenset({date(2026, 10, 10)}))


class RecordingFake(FakeChannel):
    """FakeChannel that can record: ``takes`` are, per record(), a key (str) or the seconds
    and amplitude of an utterance written to the recording file (None: nothing written)."""

    def __init__(self, answers: Iterable[str] = (), play_keys: Iterable[str | None] = (),
                 fail_at: Mapping[int, BaseException] | None = None,
                 takes: Iterable[str | tuple[float, int] | None] = (),
                 recordings: Path | None = None) -> None:
        super().__init__(answers, play_keys, fail_at)
        self.caller_number = "13800138000"
        self.takes = list(takes)
        self.recordings = recordings
        self.variables: dict[str, str] = {}

    async def record(self, path: str, fmt: str = "wav", escape_digits: str = "#",
                     timeout_ms: int = 10000, silence_s: int = 0, beep: bool = False
                     ) -> str | None:
        waiting = next((k for k in self.keys if k in escape_digits), None)
        if waiting is not None:  # typed ahead: nothing is recorded
            self.keys.remove(waiting)
            return waiting
        self._step(("record", path, escape_digits, timeout_ms, silence_s))
        take = self.takes.pop(0) if self.takes else None
        if isinstance(take, str):
            return take
        if take is not None and self.recordings is not None:
            seconds, amplitude = take
            write_wav(self.recordings / f"{path.rsplit('/', 1)[-1]}.{fmt}", seconds, amplitude)
        return None

    async def set_variable(self, name: str, value: str) -> None:
        self.variables[name] = value


def file_exists(path: str | Path) -> bool:
    return Path(path).exists()


def file_size(path: str | Path) -> int:
    return Path(path).stat().st_size if file_exists(path) else 0


def write_wav(path: Path, seconds: float, amplitude: int) -> None:
    import numpy as np

    n = int(8000 * seconds)
    samples = (amplitude * np.sin(np.arange(n) * 2 * np.pi * 440 / 8000)).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(samples.tobytes())


# -- in-memory implementations of the ports ------------------------------------------------


class Invoices:
    async def check(self, code: str, number: str, amount_fen: int) -> InvoiceCheck:
        if number == "12345678":
            return InvoiceCheck(True, amount_fen == 113000, "normal", date(2026, 10, 15))
        if number == "87654321":
            return InvoiceCheck(True, True, "void", date(2026, 9, 3))
        return InvoiceCheck(False)


@dataclass
class Taxpayers:
    attempts: int = 3

    async def verify_pin(self, tin: str, pin: str) -> PinCheck:
        if tin != "914403001234567890":
            return PinCheck("unknown")
        if pin == "123456":
            return PinCheck("ok", 3)
        self.attempts -= 1
        return PinCheck("wrong_pin", self.attempts) if self.attempts else PinCheck("locked")

    async def status(self, tin: str) -> TaxpayerStatus | None:
        return TaxpayerStatus(tin, (FilingStatus("vat", "2026-10", True),
                                    FilingStatus("stamp", "2026-10", False, 35000)), 35000)


@dataclass
class Bookings:
    free: bool = True
    booked: list[tuple[int, str]] = field(default_factory=list)

    async def halls(self) -> list[Hall]:
        return [Hall(1, "hall/city_center"), Hall(2, "hall/high_tech_zone")]

    async def free_slots(self, hall_id: int, after: datetime, limit: int) -> list[Slot]:
        if not self.free:
            return []
        return [Slot(10 * hall_id + n, datetime(2026, 12, 2, n, 0, tzinfo=UTC))
                for n in range(1, 4)]

    async def book(self, slot_id: int, caller: str, linkedid: str
                   ) -> BookingConfirmation | None:
        self.booked.append((slot_id, caller))
        return BookingConfirmation("20261202", slot_id // 10,
                                   datetime(2026, 12, 2, 1, 30, tzinfo=UTC))


@dataclass
class Tickets:
    created: list[tuple[str, str | None]] = field(default_factory=list)
    callbacks: list[str] = field(default_factory=list)

    async def create_ticket(self, kind: str, caller: str, linkedid: str,
                            recording_path: str | None, summary: str = ""
                            ) -> TicketConfirmation:
        self.created.append((kind, recording_path))
        return TicketConfirmation("202612010001", datetime(2026, 12, 8, 9, 30, tzinfo=UTC))

    async def request_callback(self, number: str, linkedid: str, reason: str
                               ) -> CallbackConfirmation:
        self.callbacks.append(number)
        return CallbackConfirmation(7, number, datetime(2026, 12, 1, 6, 0, tzinfo=UTC))


@dataclass
class Recognizer:
    transcript: Transcript
    calls: list[tuple[str, list[str] | None]] = field(default_factory=list)

    def recognize(self, wav_path: str, phrases: list[str] | None = None) -> Transcript:
        self.calls.append((wav_path, phrases))
        return self.transcript


@pytest.fixture
def services(tmp_path: Path) -> IvrServices:
    return IvrServices(kb=knowledge_base(), answers=AnswerAudio(tmp_path / "sounds"),
                       invoices=Invoices(), taxpayers=Taxpayers(), bookings=Bookings(),
                       tickets=Tickets(), calendar=CALENDAR, clock=FixedClock(OPEN),
                       recordings_dir=tmp_path)


def run(menu: Menu, channel: FakeChannel, services: IvrServices, start: str | None = None
        ) -> tuple[MenuSession, ListRecorder]:
    recorder = ListRecorder()
    return MenuSession(menu, channel, recorder, services, start_node=start), recorder


SHIPPED = load_menu(PROJECT_ROOT / "ivr/menus/12366.yaml")


# -- FAQ by key ----------------------------------------------------------------------------


async def test_faq_by_key_plays_the_answer_then_survey(services: IvrServices) -> None:
    channel = RecordingFake(answers=["1", "1", "1", "", "1"])
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    assert services.answers is not None
    answer = services.answers.prompt_id(knowledge_base().get("vat.law.effective_date").answer)
    assert answer in channel.played
    assert rec.data(EventKind.FAQ_PLAYED) == [{"node": "faq_vat_law", "score": 1.0,
                                               "faq_id": "vat.law.effective_date", "via": "key",
                                               "question": "增值税法什么时候开始施行？",
                                               "category": "增值税"}]
    assert rec.data(EventKind.SELF_SERVICE)[0]["detail"] == "vat.law.effective_date"
    assert rec.data(EventKind.SURVEY) == [{"node": "survey", "score": 1, "key": "1"}]
    assert session.path[-2:] == ["survey", "goodbye"]
    assert channel.hangups == 1
    assert services.answers is not None
    audio = services.answers.path(knowledge_base().get("vat.law.effective_date").answer)
    assert file_size(audio) > 8000


async def test_after_an_answer_1_repeats_2_asks_again_0_escalates(
        services: IvrServices) -> None:
    channel = RecordingFake(answers=["1", "1", "1", "1", "2", "1", "2", "0"])
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    plays = rec.data(EventKind.FAQ_PLAYED)
    assert [p["via"] for p in plays] == ["key", "repeat", "key"]
    assert [p["faq_id"] for p in plays][-1] == "vat.rates.overview"
    assert rec.data(EventKind.ESCALATED) == [{"node": "faq_vat_rates", "reason": "caller_asked",
                                              "faq_id": "vat.rates.overview",
                                              "queue": "tax-vat"}]
    assert channel.calls[-1] == ("redirect", "hotline-queue", "tax-vat", 1)
    assert rec.data(EventKind.TRANSFER) == [{"node": "agent_vat", "queue": "tax-vat",
                                             "skill": "vat"}]


async def test_key_during_the_answer_is_taken_as_the_choice(services: IvrServices) -> None:
    # barge-in: "2" pressed while the answer plays -> another question, at once
    channel = RecordingFake(answers=["1", "1", "1"], play_keys=[None, "2"])
    session, rec = run(SHIPPED, channel, services)
    channel.answers += ["", "", "", ""]
    await session.run()
    assert session.path[:7] == ["welcome", "hours_gate", "main", "consult", "cat_vat",
                                "faq_vat_law", "consult"]
    assert EventKind.SELF_SERVICE in rec.kinds()


# -- FAQ by speech -------------------------------------------------------------------------


async def test_speech_question_answered(services: IvrServices, tmp_path: Path) -> None:
    services.recognizer = Recognizer(Transcript("小规模纳税人免征增值税的标准是多少", 0.9))
    channel = RecordingFake(answers=["1", "1", "9", "", ""], takes=[(1.5, 3000)],
                            recordings=tmp_path)
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    speech = rec.data(EventKind.SPEECH)[0]
    assert speech["text"] == "小规模纳税人免征增值税的标准是多少"
    assert speech["grammar"] == "free"
    assert file_exists(speech["recording"])
    played = rec.data(EventKind.FAQ_PLAYED)[0]
    assert played["via"] == "speech"
    assert played["faq_id"] == "vat.small_scale.exemption"
    assert session.vars["question"].startswith("小规模")


async def test_declined_question_goes_to_the_category_queue(services: IvrServices,
                                                            tmp_path: Path) -> None:
    services.recognizer = Recognizer(Transcript("今天天气怎么样", 0.95))
    # the question, then (invited once) the same question in other words
    channel = RecordingFake(answers=["1", "3", "9"], takes=[(1.5, 3000), (1.5, 3000)],
                            recordings=tmp_path)
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    escalated = rec.data(EventKind.ESCALATED)
    assert len(escalated) == 1
    assert escalated[0]["reason"] == "declined"
    assert escalated[0]["queue"] == "experts"      # corporate income tax: an expert topic
    assert escalated[0]["text"] == "今天天气怎么样；今天天气怎么样"  # the caller's words
    assert channel.played.count("faq_declined_expert") == 1  # said once
    assert channel.played.count("faq_rephrase") == 1
    assert [d["decision"] for d in rec.data(EventKind.FAQ_DECISION)] == ["decline", "decline"]
    assert channel.calls[-1] == ("redirect", "hotline-queue", "experts", 1)
    assert EventKind.FAQ_PLAYED not in rec.kinds()


@dataclass
class Recognizers:
    """A recogniser that hears, in turn, each of ``texts``."""

    texts: list[str]

    def recognize(self, wav_path: str, phrases: list[str] | None = None) -> Transcript:
        return Transcript(self.texts.pop(0), 0.9, "free")


def _question_audio(services: IvrServices, entry_id: str) -> str:
    assert services.answers is not None
    assert services.kb is not None
    return services.answers.prompt_id(services.kb.get(entry_id).question)


async def test_unsure_question_is_confirmed_with_1(services: IvrServices,
                                                   tmp_path: Path) -> None:
    services.recognizer = Recognizers(["个税的事"])  # vague: one candidate, not sure
    channel = RecordingFake(answers=["1", "9", "1"], takes=[(1.5, 3000)], recordings=tmp_path)
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    assert rec.data(EventKind.FAQ_DECISION)[0]["decision"] == "confirm"
    spoken = _question_audio(services, "iit.rates.comprehensive")
    heard = channel.played
    start = heard.index("faq_confirm")  # 您想咨询的是 <the question> 吗？是请按一，不是请按二
    assert heard[start:start + 3] == ["faq_confirm", spoken, "faq_confirm_keys"]
    assert rec.data(EventKind.FAQ_CONFIRM) == [{
        "node": "answer_any", "faq_id": "iit.rates.comprehensive",
        "question": "综合所得适用的个人所得税税率是多少？", "offered": 1, "answer": "yes"}]
    played = rec.data(EventKind.FAQ_PLAYED)
    assert [(p["faq_id"], p["via"]) for p in played] == [
        ("iit.rates.comprehensive", "confirm")]
    assert services.answers is not None
    assert services.kb is not None
    answer = services.answers.prompt_id(
        services.kb.get("iit.rates.comprehensive").answer)
    assert heard.index(answer) > heard.index("faq_confirm_keys")
    assert EventKind.ESCALATED not in rec.kinds()


async def test_two_close_candidates_2_offers_the_second(services: IvrServices,
                                                        tmp_path: Path) -> None:
    services.recognizer = Recognizers(["小规模纳税人增值税"])
    channel = RecordingFake(answers=["1", "9", "2", "1"], takes=[(1.5, 3000)],
                            recordings=tmp_path)
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    confirms = rec.data(EventKind.FAQ_CONFIRM)
    assert [(c["faq_id"], c["offered"], c["answer"]) for c in confirms] == [
        ("vat.small_scale.special_invoice", 1, "no"), ("vat.small_scale.levy_rate", 2, "yes")]
    assert channel.played.count("faq_confirm") == 2
    assert _question_audio(services, "vat.small_scale.levy_rate") in channel.played
    assert [p["faq_id"] for p in rec.data(EventKind.FAQ_PLAYED)] == ["vat.small_scale.levy_rate"]


async def test_no_to_every_candidate_then_the_rephrased_question_is_answered(
        services: IvrServices, tmp_path: Path) -> None:
    services.recognizer = Recognizers(["小规模纳税人增值税", "小规模纳税人免征增值税的标准是多少"])
    channel = RecordingFake(answers=["1", "9", "2", "2"], takes=[(1.5, 3000), (1.5, 3000)],
                            recordings=tmp_path)
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    heard = channel.played
    assert heard.count("faq_declined") == 1
    assert heard.index("faq_declined") < heard.index("faq_rephrase")
    assert [d["decision"] for d in rec.data(EventKind.FAQ_DECISION)] == ["confirm", "answer"]
    assert [e["text"] for e in rec.data(EventKind.SPEECH)] == [
        "小规模纳税人增值税", "小规模纳税人免征增值税的标准是多少"]
    assert [(p["faq_id"], p["via"]) for p in rec.data(EventKind.FAQ_PLAYED)] == [
        ("vat.small_scale.exemption", "speech")]
    assert EventKind.ESCALATED not in rec.kinds()


async def test_declined_twice_goes_to_an_agent_with_the_callers_words(
        services: IvrServices, tmp_path: Path) -> None:
    services.recognizer = Recognizers(["今天天气怎么样", "我想问问明天会不会下雨"])
    channel = RecordingFake(answers=["1", "9"], takes=[(1.5, 3000), (1.5, 3000)],
                            recordings=tmp_path)
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    assert channel.played.count("faq_declined") == 1  # said once, not again after the retry
    assert rec.data(EventKind.ESCALATED) == [{
        "node": "answer_any", "faq_id": None, "queue": "consult", "reason": "declined",
        "text": "今天天气怎么样；我想问问明天会不会下雨"}]
    assert session.path[-2:] == ["to_consult", "agent"]
    assert channel.calls[-1] == ("redirect", "hotline-queue", "consult", 1)


async def test_declined_then_silence_goes_to_an_agent(services: IvrServices,
                                                      tmp_path: Path) -> None:
    services.recognizer = Recognizers(["今天天气怎么样"])
    channel = RecordingFake(answers=["1", "9"], takes=[(1.5, 3000), (1.0, 20)],
                            recordings=tmp_path)
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    escalated = rec.data(EventKind.ESCALATED)
    assert [(e["reason"], e["text"]) for e in escalated] == [("no_rephrase", "今天天气怎么样")]
    assert session.path[-1] == "agent"


async def test_agent_key_while_confirming_leaves_for_an_agent(services: IvrServices,
                                                              tmp_path: Path) -> None:
    services.recognizer = Recognizers(["个税的事"])
    channel = RecordingFake(answers=["1", "9", "0"], takes=[(1.5, 3000)], recordings=tmp_path)
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    assert rec.data(EventKind.FAQ_CONFIRM)[0]["answer"] is None
    assert session.path[-2:] == ["to_consult", "agent"]
    assert EventKind.FAQ_PLAYED not in rec.kinds()


async def test_speech_silence_low_confidence_and_key(services: IvrServices,
                                                     tmp_path: Path) -> None:
    services.recognizer = Recognizer(Transcript("嗯", 0.1))
    # silence (quiet file), then unclear speech, then the caller presses 0 (global agent key)
    channel = RecordingFake(answers=["1", "9"], takes=[(1.0, 20), (1.0, 3000), "0"],
                            recordings=tmp_path)
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    assert [e["attempt"] for e in rec.data(EventKind.NO_INPUT)] == [1]
    assert rec.data(EventKind.INVALID_INPUT)[0]["speech"] == "嗯"
    assert session.path[-2:] == ["to_consult", "agent"]


async def test_speech_without_recogniser_goes_to_the_fallback(services: IvrServices) -> None:
    channel = RecordingFake(answers=["1", "9"])
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    assert rec.data(EventKind.SPEECH)[0]["grammar"] == "unavailable"
    assert session.path[-2:] == ["to_consult", "agent"]


async def test_speech_with_phrases_routes_by_keyword(services: IvrServices,
                                                     tmp_path: Path) -> None:
    menu = menu_of("""
        version: 1
        start: ask
        nodes:
          ask:
            type: speech
            prompt: ask_question
            phrases: {"发票": inv, "个税": bye}
            fallback: bye
          inv:
            type: hangup
            reason: invoice
          bye:
            type: hangup
        """)
    recognizer = Recognizer(Transcript("我要 发票", 0.8))
    services.recognizer = recognizer
    channel = RecordingFake(takes=[(1.0, 3000)], recordings=tmp_path)
    session, rec = run(menu, channel, services)
    await session.run()
    assert recognizer.calls[0][1] == ["发票", "个税"]
    assert rec.data(EventKind.IVR_HANGUP) == [{"node": "inv", "reason": "invoice"}]


# -- collect with read-back, global keys ---------------------------------------------------


async def test_invoice_check_found_with_read_back(services: IvrServices) -> None:
    # 2 invoice -> 2 paper; code, confirm 2 (re-enter), code, confirm 1; number, confirm;
    # amount 1130*00, confirm; then the survey: no key
    channel = RecordingFake(answers=["2", "2", "144032600111", "2", "144032600111", "1",
                                     "12345678", "1", "1130*00", "1"])
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    assert session.vars["invoice_code"] == "144032600111"
    assert session.vars["invoice_amount"] == "113000"
    result = rec.data(EventKind.SERVICE_RESULT)
    assert [r["result"] for r in result if r["service"] == "invoice_check"] == ["found"]
    played = channel.played
    assert readback.say_amount(113000) == ["say/d1", "say/qian", "say/d1", "say/bai",
                                           "say/d3", "say/shi", "say/yuan", "say/zheng"]
    assert played[played.index("invoice_valid") + 1] == "invoice_issued_on"
    assert "say/yao" in played  # the code is read digit by digit, 1 as 幺
    assert EventKind.SELF_SERVICE in rec.kinds()


@pytest.mark.parametrize(("number", "amount", "result", "prompt"), [
    ("12345678", "1*00", "mismatch", "invoice_amount_mismatch"),
    ("87654321", "565", "void", "invoice_void"),
    ("11112222", "100", "not_found", "invoice_not_found"),
])
async def test_invoice_check_other_results(services: IvrServices, number: str, amount: str,
                                           result: str, prompt: str) -> None:
    channel = RecordingFake(answers=["2", "2", "144032600111", "1", number, "1", amount, "1"])
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    assert rec.data(EventKind.SERVICE_RESULT)[-1]["result"] == result
    assert prompt in channel.played


async def test_collect_wrong_length_then_fallback(services: IvrServices) -> None:
    # 7 digits for an 8-digit number, three times: back to the main menu (its fallback)
    channel = RecordingFake(answers=["2", "2", "144032600111", "1", "1234567", "1234567",
                                     "1234567"])
    session, rec = run(SHIPPED, channel, services)
    channel.answers += ["", "", ""]
    await session.run()
    invalid = [e for e in rec.data(EventKind.INVALID_INPUT) if e["node"] == "invoice_number"]
    assert [e["attempt"] for e in invalid] == [1, 2, 3]
    assert "invalid_entry" in channel.played
    assert session.path[session.path.index("invoice_number") + 1] == "main"


async def test_global_keys_repeat_back_and_agent(services: IvrServices) -> None:
    # main: "#" repeats (no try used), "1" consult, "*" back to main, "0" agent
    channel = RecordingFake(answers=["#", "1", "*", "0"])
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    actions = [(d["node"], d["digits"], d.get("action")) for d in rec.data(EventKind.DIGITS)]
    assert actions == [("main", "#", "repeat"), ("main", "1", None),
                       ("consult", "*", "back"), ("main", "0", "agent")]
    assert channel.played[1:3] == ["main_menu", "main_menu"]
    assert session.path[-4:] == ["consult", "main", "to_consult", "agent"]
    assert EventKind.INVALID_INPUT not in rec.kinds()


async def test_global_keys_off_on_a_node(services: IvrServices) -> None:
    # the queue_failed menu turns global keys off: 0 is invalid there
    channel = RecordingFake(answers=["0", "2", ""])
    session, rec = run(SHIPPED, channel, services, start="queue_failed")
    await session.run()
    assert rec.data(EventKind.INVALID_INPUT)[0] == {"node": "queue_failed", "digits": "0",
                                                    "attempt": 1}
    assert session.path[:2] == ["queue_failed", "main"]


# -- comprehensive query --------------------------------------------------------------------


async def test_query_with_right_pin_reads_the_status(services: IvrServices) -> None:
    channel = RecordingFake(answers=["3", "914403001234567890", "1", "123456", ""])
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    result = [r for r in rec.data(EventKind.SERVICE_RESULT) if r["service"] == "taxpayer_query"]
    assert result[0]["result"] == "found"
    assert result[0]["unpaid_fen"] == 35000
    played = channel.played
    for prompt in ("tax/vat", "query_filed", "tax/stamp", "query_not_filed", "query_unpaid"):
        assert prompt in played
    assert "pin" not in session.vars  # the PIN is not kept, nor written to the timeline
    assert {"node": "query_pin", "digits": "******"} in rec.data(EventKind.DIGITS)
    assert all("123456" not in map(str, e.data.values()) for e in rec.events)


async def test_query_wrong_pin_until_locked(services: IvrServices) -> None:
    channel = RecordingFake(answers=["3", "914403001234567890", "1", "000000", "111111",
                                     "222222"])
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    results = [r["result"] for r in rec.data(EventKind.SERVICE_RESULT)
               if r["service"] == "taxpayer_query"]
    assert results == ["wrong_pin", "wrong_pin", "locked"]
    assert [r.get("attempts_left") for r in rec.data(EventKind.SERVICE_RESULT)
            if r["result"] == "wrong_pin"] == [2, 1]
    assert "query_locked" in channel.played
    assert session.path[-2:] == ["to_consult", "agent"]  # locked: to an agent


async def test_query_unknown_taxpayer(services: IvrServices) -> None:
    channel = RecordingFake(answers=["3", "123456789012345", "1", "123456"])
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    assert rec.data(EventKind.SERVICE_RESULT)[-1]["result"] == "unknown"
    assert session.path[session.path.index("query_run") + 1] == "main"


# -- booking, callback ---------------------------------------------------------------------


async def test_booking_reads_the_confirmation_number(services: IvrServices) -> None:
    channel = RecordingFake(answers=["4", "1", "2", "3", "3"])
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    assert services.bookings is not None
    assert services.bookings.booked == [(23, "13800138000")]  # type: ignore[attr-defined]
    result = rec.data(EventKind.SERVICE_RESULT)[-1]
    assert (result["result"], result["confirmation_no"]) == ("booked", "20261202")
    played = channel.played
    start = played.index("booking_confirmed")
    assert played[start + 1:start + 9] == readback.say_digits("20261202")
    assert rec.data(EventKind.SURVEY) == [{"node": "survey", "score": 3, "key": "3"}]


async def test_booking_without_free_slots(services: IvrServices) -> None:
    services.bookings = Bookings(free=False)
    channel = RecordingFake(answers=["4", "1", "1"])
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    assert [r["result"] for r in rec.data(EventKind.SERVICE_RESULT)
            if r["service"] == "booking"] == ["no_slots"]
    assert "booking_no_slots" in channel.played


async def test_callback_request(services: IvrServices) -> None:
    channel = RecordingFake(answers=["4", "2"])
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    assert rec.data(EventKind.CALLBACK)[0]["number"] == "13800138000"
    assert rec.data(EventKind.OUTCOME) == [{"node": "callback_run",
                                            "outcome": "callback_requested"}]
    assert session.path[-1] == "goodbye"


# -- voice messages --------------------------------------------------------------------------


async def test_complaint_message_creates_a_ticket(services: IvrServices,
                                                  tmp_path: Path) -> None:
    channel = RecordingFake(answers=["5", "1"], takes=[(3.0, 3000)], recordings=tmp_path)
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    tickets = services.tickets
    assert isinstance(tickets, Tickets)
    kind, path = tickets.created[0]
    assert kind == "complaint"
    assert path is not None
    assert file_exists(path)
    assert rec.data(EventKind.TICKET)[0]["ticket_no"] == "202612010001"
    assert rec.data(EventKind.OUTCOME)[0]["outcome"] == "message_left"
    assert channel.calls[[c[0] for c in channel.calls].index("record")][2] == "#"
    assert "ticket_created" in channel.played


async def test_empty_message_creates_no_ticket(services: IvrServices, tmp_path: Path) -> None:
    channel = RecordingFake(answers=["5", "2"], takes=[None], recordings=tmp_path)
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    assert [r["result"] for r in rec.data(EventKind.SERVICE_RESULT)] == ["open", "empty"]
    assert EventKind.TICKET not in rec.kinds()
    assert "message_empty" in channel.played


async def test_message_ended_by_hanging_up_is_kept(services: IvrServices,
                                                   tmp_path: Path) -> None:
    class HangsUpWhileRecording(RecordingFake):
        async def record(self, path: str, fmt: str = "wav", escape_digits: str = "#",
                         timeout_ms: int = 10000, silence_s: int = 0, beep: bool = False
                         ) -> str | None:
            await super().record(path, fmt, escape_digits, timeout_ms, silence_s, beep)
            raise ChannelHungUp("gone")

    channel = HangsUpWhileRecording(answers=["5", "2"], takes=[(2.0, 3000)],
                                    recordings=tmp_path)
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    assert session.ended_by == "caller_hangup"
    assert rec.data(EventKind.TICKET)[0]["type"] == "report"


# -- hours, director's line ----------------------------------------------------------------


async def test_out_of_hours_agent_key_tells_the_hours(services: IvrServices) -> None:
    services.clock = FixedClock(CLOSED)
    channel = RecordingFake(answers=["0", ""])
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    assert channel.played[1:3] == ["closed_notice", "hours_intro"]
    assert readback.say_time(time(8, 30)) == ["say/d8", "say/dian", "say/d3", "say/shi",
                                              "say/fen"]
    assert "agents_closed" in channel.played
    assert EventKind.TRANSFER not in rec.kinds()
    assert [r["result"] for r in rec.data(EventKind.SERVICE_RESULT)] == ["closed", "closed"]


async def test_holiday_and_make_up_workday_with_the_shipped_calendar(
        services: IvrServices) -> None:
    services.calendar = ServiceCalendar.load()
    # Spring Festival, Tuesday 2026-02-17 10:00 in Shanghai: told it is a holiday, no agent
    services.clock = lambda: datetime(2026, 2, 17, 2, 0, tzinfo=UTC)
    channel = RecordingFake(answers=["0", ""])
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    assert channel.played[1:3] == ["holiday_notice", "hours_intro"]
    assert "agents_holiday" in channel.played
    assert not {"closed_notice", "agents_closed"} & set(channel.played)
    assert EventKind.TRANSFER not in rec.kinds()
    assert [(r["node"], r["result"], r.get("holiday"))
            for r in rec.data(EventKind.SERVICE_RESULT)] == [("hours_gate", "closed", "春节"),
                                                             ("to_consult", "closed", "春节")]
    # its make-up Saturday 2026-02-14 10:00: agents answer as on a weekday
    services.clock = lambda: datetime(2026, 2, 14, 2, 0, tzinfo=UTC)
    channel = RecordingFake(answers=["0"])
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    assert channel.calls[-1] == ("redirect", "hotline-queue", "consult", 1)
    assert [(r["node"], r["result"], r.get("make_up_workday"))
            for r in rec.data(EventKind.SERVICE_RESULT)] == [("hours_gate", "open", "春节"),
                                                             ("to_consult", "open", "春节")]


# 05:53 on a workday (closed), 10:00 on a workday, on Spring Festival, on its make-up Saturday
TYPE_AHEAD_MOMENTS = {
    "closed-workday": datetime(2026, 11, 30, 21, 53, tzinfo=UTC),
    "open-workday": datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
    "holiday": datetime(2026, 2, 17, 2, 0, tzinfo=UTC),
    "make-up-workday": datetime(2026, 2, 14, 2, 0, tzinfo=UTC),
}


@pytest.mark.parametrize("moment", TYPE_AHEAD_MOMENTS.values(), ids=TYPE_AHEAD_MOMENTS.keys())
async def test_keys_pressed_through_the_welcome_and_the_hours_notice_reach_the_answer(
        services: IvrServices, moment: datetime) -> None:
    # 1 1 1 from the answer: during the welcome and, when agents are off, the notice and the
    # hours read out after it (both play on); no key is lost
    services.calendar = ServiceCalendar.load()
    services.clock = FixedClock(moment)
    assert services.calendar is not None
    closed = not services.calendar.is_open(moment)
    channel = RecordingFake(play_keys=["11", "1"] if closed else ["111"])
    session, rec = run(SHIPPED, channel, services)
    await session.run()

    notice = [p for p in channel.played if p in ("closed_notice", "holiday_notice")]
    assert len(notice) == (1 if closed else 0)
    kept = [d.get("kept") for d in rec.data(EventKind.PROMPT)
            if d["node"] in ("welcome", "hours_gate")]
    assert kept == (["11", "1"] if closed else ["111"])
    assert rec.data(EventKind.DIGITS) == [
        {"node": "main", "digits": "1"}, {"node": "consult", "digits": "1"},
        {"node": "cat_vat", "digits": "1"}]
    assert EventKind.NO_INPUT not in rec.kinds()[:rec.kinds().index(EventKind.FAQ_PLAYED)]
    assert rec.data(EventKind.SELF_SERVICE)[0]["detail"] == "vat.law.effective_date"
    assert channel.keys == []


async def test_director_line_in_and_out_of_hours(services: IvrServices,
                                                 tmp_path: Path) -> None:
    channel = RecordingFake(answers=["6"])
    session, _rec = run(SHIPPED, channel, services)
    await session.run()
    assert channel.calls[-1] == ("redirect", "hotline-queue", "director", 1)

    services.clock = FixedClock(CLOSED)
    channel = RecordingFake(answers=["6"], takes=[(2.0, 3000)], recordings=tmp_path)
    session, rec = run(SHIPPED, channel, services)
    await session.run()
    assert "director_closed" in channel.played
    assert rec.data(EventKind.TICKET)[0]["type"] == "director"


def test_calendar_holidays_workdays_and_hours() -> None:
    tz_offset = 8
    def at(day: date, hour: int, minute: int = 0) -> datetime:
        return datetime(day.year, day.month, day.day, hour - tz_offset, minute, tzinfo=UTC)

    assert CALENDAR.is_open(at(date(2026, 12, 1), 8, 30))
    assert not CALENDAR.is_open(at(date(2026, 12, 1), 8, 29))
    assert not CALENDAR.is_open(at(date(2026, 12, 1), 17, 30))
    assert not CALENDAR.is_open(at(date(2026, 10, 1), 10))      # a holiday (Thursday)
    assert CALENDAR.is_open(at(date(2026, 10, 10), 10))         # a make-up Saturday
    assert not CALENDAR.is_open(at(date(2026, 10, 11), 10))     # Sunday
    with pytest.raises(ValueError, match="naive"):
        CALENDAR.is_open(datetime(2026, 12, 1, 10))


# -- survey, sub-flow ------------------------------------------------------------------------


async def test_survey_invalid_then_valid_and_no_answer(services: IvrServices) -> None:
    channel = RecordingFake(answers=["7", "2"])
    session, rec = run(SHIPPED, channel, services, start="survey_after_agent")
    await session.run()
    assert rec.data(EventKind.SURVEY) == [{"node": "survey_after_agent", "score": 2,
                                           "key": "2"}]
    assert "survey_invalid" in channel.played
    channel = RecordingFake(answers=[])
    session, rec = run(SHIPPED, channel, services, start="survey_after_agent")
    await session.run()
    assert rec.data(EventKind.SURVEY) == [{"node": "survey_after_agent", "score": None}]
    assert session.path[-1] == "goodbye"


async def test_subflow_returns_to_its_caller(services: IvrServices) -> None:
    menu = menu_of("""
        version: 1
        start: sub
        nodes:
          sub: {type: subflow, flow: part, next: bye}
          part: {type: play, prompts: [welcome], next: done}
          done: {type: return}
          bye: {type: hangup, prompt: goodbye}
        """)
    channel = RecordingFake()
    session, _rec = run(menu, channel, services)
    await session.run()
    assert session.path == ["sub", "part", "done", "bye"]
    assert channel.played == ["welcome", "goodbye"]


async def test_return_outside_a_subflow_ends_the_call(services: IvrServices) -> None:
    menu = menu_of("""
        version: 1
        start: done
        nodes:
          done: {type: return}
        """)
    channel = RecordingFake()
    session, rec = run(menu, channel, services)
    await session.run()
    assert rec.data(EventKind.IVR_HANGUP) == [{"node": "done", "reason": "loop_guard"}]
    assert channel.hangups == 1


# -- the caller hangs up at every node type ------------------------------------------------

HANGUP_CASES: list[tuple[str, list[str], list[Any], int, str]] = [
    # (start node, answers, takes, step that raises, node the call ends in)
    ("hours_gate", [], [], 1, "main"),             # hours -> menu
    ("invoice_number", [], [], 1, "invoice_number"),        # collect, while collecting
    ("invoice_number", ["12345678"], [], 2, "invoice_number"),  # collect, during read-back
    ("ask_any", [], [], 1, "ask_any"),                       # speech, during its prompt
    ("ask_any", [], [], 2, "ask_any"),                       # speech, while recording
    ("faq_vat_law", [], [], 1, "faq_vat_law"),              # faq, during the answer
    ("faq_vat_law", [], [], 2, "faq_vat_law"),              # faq, after-answer prompt
    ("query_run", [], [], 1, "query_run"),                  # service, speaking the result
    ("survey", [], [], 1, "survey"),                        # survey
    ("agent", [], [], 1, "agent"),                          # transfer, during its prompt
    ("goodbye", [], [], 1, "goodbye"),                      # hangup, during its prompt
]


@pytest.mark.parametrize(("start", "answers", "takes", "step", "last"), HANGUP_CASES,
                         ids=[f"{c[0]}-{c[3]}" for c in HANGUP_CASES])
async def test_caller_hangs_up_at_every_node_type(
        services: IvrServices, tmp_path: Path, start: str, answers: list[str],
        takes: list[Any], step: int, last: str) -> None:
    services.recognizer = Recognizer(Transcript("", 0.0))
    channel = RecordingFake(answers=answers, takes=takes, recordings=tmp_path,
                            fail_at={step: ChannelHungUp("gone")})
    session, rec = run(SHIPPED, channel, services, start=start)
    session.vars.update({"tin": "914403001234567890", "pin": "123456"})
    await session.run()
    assert session.ended_by == "caller_hangup"
    assert len(channel.calls) == step
    assert session.path[-1] == last
    assert EventKind.IVR_HANGUP not in rec.kinds()
    assert channel.hangups == 0


# -- read-back -------------------------------------------------------------------------------


def test_read_back_fragments_are_all_in_the_catalogue() -> None:
    from ivr.prompts.catalogue import load_catalogue
    from ivr.services.handlers import SERVICE_PROMPTS

    catalogue = load_catalogue()
    assert set(readback.FRAGMENTS.values()) <= catalogue.keys()
    assert catalogue.keys() >= SERVICE_PROMPTS
    assert {"hours_intro", "hours_to", "hall/city_center"} <= catalogue.keys()
    for char, prompt in readback.FRAGMENTS.items():
        assert catalogue[prompt] == char


@pytest.mark.parametrize(("call", "spoken"), [
    (lambda: readback.say_digits("1024"), "幺零二四"),
    (lambda: readback.say_amount(10005), "一百元零五分"),
    (lambda: readback.say_amount(100), "一元整"),
    (lambda: readback.say_date(date(2026, 12, 3)), "二零二六年十二月三日"),
    (lambda: readback.say_time(time(14, 0)), "十四点整"),
    (lambda: readback.say_period("2026-10"), "二零二六年十月"),
])
def test_read_back(call: Any, spoken: str) -> None:
    chars = {v: k for k, v in readback.FRAGMENTS.items()}
    assert "".join(chars[p] for p in call()) == spoken


def test_read_back_refuses_what_it_cannot_say() -> None:
    with pytest.raises(readback.NotSayable):
        readback.say_digits("12a")
    with pytest.raises(readback.NotSayable):
        readback.say_period("October")


# -- no input and invalid input until the retries run out, at every waiting node type --------

RETRY_CASES: list[tuple[str, str, str, int]] = [
    # (start node, the key to press when an invalid one is wanted, where it ends, tries)
    ("consult", "7", "goodbye_no_input", 3),          # menu -> fallback
    ("invoice_number", "1", "main", 3),                # collect (too short) -> fallback
    ("survey_after_agent", "9", "goodbye", 2),         # survey -> next (no score)
    ("faq_vat_law", "5", "survey", 1),                 # faq after-prompt -> next
    ("queue_failed", "0", "goodbye_no_input", 3),      # menu without global keys
]


@pytest.mark.parametrize("mode", ["no_input", "invalid"])
@pytest.mark.parametrize(("start", "bad_key", "end", "tries"), RETRY_CASES,
                         ids=[c[0] for c in RETRY_CASES])
async def test_retries_run_out(services: IvrServices, mode: str, start: str, bad_key: str,
                               end: str, tries: int) -> None:
    answers = [""] * tries if mode == "no_input" else [bad_key] * tries
    channel = RecordingFake(answers=answers)
    session, rec = run(SHIPPED, channel, services, start=start)
    session.max_steps = len(session.path) + 4
    await session.run()
    kind = EventKind.NO_INPUT if mode == "no_input" else EventKind.INVALID_INPUT
    attempts = [e["attempt"] for e in rec.data(kind) if e["node"] == start]
    assert attempts == list(range(1, tries + 1))
    assert session.path[session.path.index(start) + 1] == end


async def test_speech_no_input_until_the_fallback(services: IvrServices, tmp_path: Path) -> None:
    services.recognizer = Recognizer(Transcript("", 0.0))
    channel = RecordingFake(takes=[(1.0, 10)] * 3, recordings=tmp_path)
    session, rec = run(SHIPPED, channel, services, start="ask_vat")
    await session.run()
    assert [e["attempt"] for e in rec.data(EventKind.NO_INPUT)] == [1, 2, 3]
    assert "no_input" in channel.played
    assert session.path[:3] == ["ask_vat", "to_vat", "agent_vat"]


async def test_booking_choice_no_input(services: IvrServices) -> None:
    channel = RecordingFake(answers=[""] * 3)
    session, rec = run(SHIPPED, channel, services, start="booking_run")
    await session.run()
    assert [e["attempt"] for e in rec.data(EventKind.NO_INPUT)
            if e["node"] == "booking_run"] == [1, 2, 3]
    assert rec.data(EventKind.SERVICE_RESULT)[0]["result"] == "no_choice"
    assert session.path[:2] == ["booking_run", "main"]


def test_calendar_files(tmp_path: Path) -> None:
    from ivr.calendar import CalendarError

    shipped = ServiceCalendar.load()
    assert shipped.main_hours.open == time(8, 30)
    assert not shipped.is_open(CLOSED)
    assert shipped.is_open(OPEN)
    always = ServiceCalendar.load(PROJECT_ROOT / "tests" / "data" / "hours_always_open.yaml")
    assert always.is_open(CLOSED)
    bad = tmp_path / "hours.yaml"
    bad.write_text("hours:\n  - days: [1]\n    open: '18:00'\n    close: '09:00'\n",
                   encoding="utf-8")
    with pytest.raises(CalendarError, match="open before close"):
        ServiceCalendar.load(bad)
    bad.write_text("hours: []\n", encoding="utf-8")
    with pytest.raises(CalendarError, match=str(bad)):
        ServiceCalendar.load(bad)
