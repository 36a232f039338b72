"""The ``speech`` node: record the caller's utterance, recognise it, route by it (its runner,
registered for the node type in :mod:`ivr.menu.runners`)."""

from __future__ import annotations

import asyncio
import logging
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ivr.events import Digits, InvalidInput, NoInput, Speech
from ivr.menu.channel import ALL_KEYS, RecordingChannel
from ivr.menu.runners import node_runner
from ivr.menu.schema import SpeechNode
from ivr.ports import Transcript

if TYPE_CHECKING:
    from ivr.menu.engine import MenuSession

log = logging.getLogger(__name__)

MIN_SPEECH_MS = 300
SILENCE_RMS = 200.0      # 16-bit samples; espeak and phone speech are far above this


def speech_level(path: Path) -> tuple[float, float]:
    """(duration in ms, RMS level) of a 16-bit mono WAV; (0, 0) when unreadable."""
    try:
        with wave.open(str(path), "rb") as wav:
            frames = wav.readframes(wav.getnframes())
            rate = wav.getframerate()
            width = wav.getsampwidth()
    except (OSError, wave.Error, EOFError):
        return 0.0, 0.0
    if width != 2 or not frames:
        return 0.0, 0.0
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float64)
    return len(samples) * 1000.0 / rate, float(np.sqrt(np.mean(samples ** 2)))


def match_phrase(text: str, phrases: list[str]) -> str | None:
    """The phrase the transcript names: exactly or inside it (longest first); else the one
    phrase that holds every recognised word (the decoder sometimes keeps only part of a
    multi-word phrase, e.g. "신고" for "세금 신고")."""
    cleaned = text.replace(" ", "")
    for phrase in sorted(phrases, key=len, reverse=True):
        if phrase.replace(" ", "") and phrase.replace(" ", "") in cleaned:
            return phrase
    words = text.split()
    if words:
        holders = [p for p in phrases if all(w in p.split() for w in words)]
        if len(holders) == 1:
            return holders[0]
    return None


def recognised_phrase(transcript: Transcript, phrases: list[str],
                      min_confidence: float) -> str | None:
    """The phrase of ``phrases`` that ``transcript`` recognises, or None: text with at least
    ``min_confidence`` that :func:`match_phrase` maps to one phrase. This is what a speech
    node with a ``phrases`` grammar routes by, and the one definition tests use."""
    if not transcript.text or transcript.confidence < min_confidence:
        return None
    return match_phrase(transcript.text, phrases)


@dataclass(frozen=True)
class Heard:
    """One turn of listening: the key pressed instead of speaking, or the recognised text
    (empty when the caller was silent, ``silent``, or could not be understood)."""

    key: str | None = None
    text: str = ""
    confidence: float = 0.0
    silent: bool = False
    transcript: Transcript | None = None


async def listen(session: MenuSession, node_id: str, prompt: str, *, max_seconds: int,
                 silence_seconds: int, attempt: int, phrases: list[str] | None = None
                 ) -> Heard:
    """Play ``prompt``, record the caller after the beep and recognise the recording; the
    SPEECH (or NO_INPUT) event lands in the timeline. Needs a recogniser and a recording
    channel (the caller's node checks)."""
    services = session.services
    channel = session.channel
    assert services.recognizer is not None
    assert isinstance(channel, RecordingChannel)
    key = await session.say(node_id, [prompt], barge_in=True)
    name = session.next_recording_name("speech")
    pbx_path, local = services.recording(name)
    if key is None:
        key = await channel.record(pbx_path, "wav", ALL_KEYS, timeout_ms=max_seconds * 1000,
                                   silence_s=silence_seconds, beep=True)
    if key is not None:
        session.record(Digits(node=node_id, digits=key))
        return Heard(key=key)
    duration, level = speech_level(local) if local is not None else (0.0, 0.0)
    if duration < MIN_SPEECH_MS or level < SILENCE_RMS:
        session.record(NoInput(node=node_id, attempt=attempt,
                       recorded_ms=round(duration)))
        return Heard(silent=True)
    assert local is not None
    try:
        transcript: Transcript = await asyncio.to_thread(
            services.recognizer.recognize, str(local), phrases)
    except Exception:
        log.exception("speech recognition failed on %s", local)
        transcript = Transcript("", 0.0, "error")
    session.record(Speech(node=node_id, text=transcript.text,
                   confidence=round(transcript.confidence, 3), grammar=transcript.grammar,
                   recording=str(local), attempt=attempt))
    return Heard(text=transcript.text, confidence=transcript.confidence,
                 transcript=transcript)


def can_listen(session: MenuSession) -> bool:
    """Whether the call can take speech: a recogniser and a channel that records."""
    return session.services.recognizer is not None and isinstance(session.channel,
                                                                   RecordingChannel)


@node_runner("speech")
async def run_speech(session: MenuSession, node_id: str, node: SpeechNode) -> str:
    if not can_listen(session):
        session.record(Speech(node=node_id, text="", confidence=0.0,
                       grammar="unavailable"))
        return node.fallback
    attempts = node.retries + 1
    phrases = list(node.phrases) or None
    for attempt in range(1, attempts + 1):
        heard = await listen(session, node_id, node.prompt, max_seconds=node.max_seconds,
                             silence_seconds=node.silence_seconds, attempt=attempt,
                             phrases=phrases)
        if heard.key is not None:
            if heard.key in node.options:
                return node.options[heard.key]
            target = session.global_target(node, heard.key, node.options)
            if target is not None:
                return target
            session.record(InvalidInput(node=node_id, digits=heard.key,
                           attempt=attempt))
            continue
        if heard.silent:
            if node.no_input_prompt and attempt < attempts:
                await session.say(node_id, [node.no_input_prompt], retry=attempt + 1)
            continue
        if phrases:
            phrase = (recognised_phrase(heard.transcript, phrases, node.min_confidence)
                      if heard.transcript is not None else None)
            if phrase is not None:
                return node.phrases[phrase]
        elif (heard.text and heard.confidence >= node.min_confidence
              and node.store and node.next):
            session.vars[node.store] = heard.text
            return node.next
        session.record(InvalidInput(node=node_id, digits="", attempt=attempt,
                       speech=heard.text))
        if node.invalid_prompt and attempt < attempts:
            await session.say(node_id, [node.invalid_prompt], retry=attempt + 1)
    return node.fallback
