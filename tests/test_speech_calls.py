"""Mandarin speech through real calls (the real Asterisk, the real Whisper path): the caller's
leg plays a committed Mandarin utterance (tests/data/speech/zh) into the call; the IVR records
it, Whisper recognises it and the menu goes where the caller asked. Free questions are in
tests/test_ivr_calls.py (the FAQ answer chosen on the recognised text)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callcenter.contacts.services import ContactService
from ivr.asr.whisper import WhisperRecognizer
from ivr.menu.loader import load_menu
from ivr.pbx.sandbox import AsteriskSandbox
from tests.conftest import Harness, events_of
from tests.test_ivr_calls import Say, Tap, scripted_call, timeline

pytestmark = pytest.mark.asterisk

PHRASE_MENU = Path(__file__).resolve().parent / "data" / "speech" / "phrase_menu.yaml"
# caller -> (utterance, what it says, the phrase it names, the node that phrase leads to)
CALLS = {
    "13700000201": ("zh/phrase_agent.wav", "人工服务", "agent"),
    "13700000202": ("zh/phrase_invoice_sentence.wav", "发票查验", "invoice"),
    "13700000203": ("zh/phrase_filing_sentence.wav", "纳税申报", "filing"),
}


@pytest.fixture
async def phrase_harness(pbx: AsteriskSandbox, contacts: ContactService
                         ) -> AsyncIterator[Harness]:
    h = Harness(pbx, contacts, load_menu(PHRASE_MENU))
    await h.start()
    try:
        yield h
    finally:
        await h.stop()


async def test_menu_phrases_said_in_mandarin_choose_the_branch(phrase_harness: Harness
                                                                ) -> None:
    h = phrase_harness
    assert isinstance(h.services.recognizer, WhisperRecognizer)
    tap = Tap(h)
    # each caller speaks after the beep that starts its recording (``Say``): timed from the
    # prompt instead (+0.9 s, then +1.5 s) the start of 人工服务 was lost under load
    await asyncio.gather(*(scripted_call(h, tap, caller, [Say("say_service", file)])
                           for caller, (file, _, _) in CALLS.items()))
    for caller, (_, phrase, node) in CALLS.items():
        c = await h.wait_contact(caller, timeout=90)
        speech = events_of(c, "speech")
        assert [(s["text"], s["grammar"]) for s in speech] == [(phrase, "phrases")], timeline(c)
        assert speech[0]["confidence"] >= 0.4
        assert events_of(c, "ivr_hangup") == [{"node": node, "reason": node}], timeline(c)
