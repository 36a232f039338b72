"""Mandarin speech recognition for speech nodes: Whisper for what callers say freely, and
Vosk for grammar nodes (a fixed set of phrases) when a Chinese Vosk model is installed.

``build_recognizer`` picks the engine as configured (``HOTLINE_ASR_ENGINE``):

* ``whisper``: Whisper base for every speech node (phrases matched on pinyin);
* ``vosk``: the Vosk model of ``HOTLINE_VOSK_MODEL_PATH`` for every node;
* ``auto`` (default): Whisper when its model can be had (assembled, or its PyPI parts
  installed), with Vosk for grammar nodes when a Vosk model path is set; Vosk alone when
  Whisper cannot be had; no speech input when neither can.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from ivr.ports import SpeechRecognizer, Transcript

log = logging.getLogger(__name__)

Engine = Literal["auto", "whisper", "vosk", "off"]
ENGINES: tuple[Engine, ...] = ("auto", "whisper", "vosk", "off")


class GrammarRouter:
    """Free-form utterances to one recogniser, phrase (grammar) nodes to another."""

    def __init__(self, free: SpeechRecognizer, grammar: SpeechRecognizer) -> None:
        self.free = free
        self.grammar = grammar

    def recognize(self, wav_path: str, phrases: list[str] | None = None) -> Transcript:
        if phrases:
            return self.grammar.recognize(wav_path, phrases)
        return self.free.recognize(wav_path, phrases)


def build_recognizer(engine: str, whisper_model_dir: Path,
                     vosk_model_path: Path | None) -> SpeechRecognizer | None:
    """The recogniser ``engine`` asks for (see the module). An engine named explicitly that
    cannot be loaded raises; ``auto`` logs why and falls back."""
    if engine not in ENGINES:
        raise ValueError(f"unknown speech engine {engine!r}; expected one of {', '.join(ENGINES)}")
    if engine == "off":
        return None
    from ivr.asr.vosk import VoskRecognizer

    if engine == "vosk":
        if vosk_model_path is None:
            raise ValueError("the vosk speech engine needs HOTLINE_VOSK_MODEL_PATH")
        return VoskRecognizer(vosk_model_path)
    from ivr.asr.model import ModelUnavailable
    from ivr.asr.whisper import WhisperRecognizer, WhisperUnavailable

    if engine == "whisper":
        return WhisperRecognizer(whisper_model_dir)
    vosk: VoskRecognizer | None = None
    if vosk_model_path is not None:
        try:
            vosk = VoskRecognizer(vosk_model_path)
        except Exception:
            log.exception("Vosk model at %s unusable; grammar nodes use Whisper",
                          vosk_model_path)
    try:
        whisper = WhisperRecognizer(whisper_model_dir)
    except (ModelUnavailable, WhisperUnavailable) as exc:
        log.warning("Whisper unavailable (%s); speech input: %s", exc,
                    "Vosk only" if vosk else "off")
        return vosk
    return GrammarRouter(whisper, vosk) if vosk is not None else whisper


__all__ = ["ENGINES", "Engine", "GrammarRouter", "build_recognizer"]
