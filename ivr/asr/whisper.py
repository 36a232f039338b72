"""Speech input with Whisper base on faster-whisper (CTranslate2): an utterance -> text.

A recording from the call (8 kHz, 16-bit mono WAV, as Asterisk records) is resampled to the
16 kHz Whisper needs and transcribed with ``language="zh"``, a short prompt of the hotline's
words (it steers spelling: 纳税 rather than 那税, 12366, 发票), no timestamps, greedy or small
beam search and a bound on the tokens, so a garbled utterance cannot run on. The text is
normalised to simplified characters (Whisper writes traditional ones now and then). With
``phrases`` (a menu's choices) the phrases are the prompt and the transcript is matched to them
on pinyin (``ivr.asr.phrases``): the phrase is returned as the text, as a grammar would.

The model is loaded once per process (``load_model``) from the folder ``ivr.asr.model``
assembles; nothing is downloaded.
"""

from __future__ import annotations

import functools
import math
import re
import threading
import unicodedata
import wave
from pathlib import Path
from typing import Any

import numpy as np

from ivr.asr.model import assemble
from ivr.asr.phrases import match_on_pinyin
from ivr.audio import resample
from ivr.ports import Transcript

SAMPLE_RATE = 16_000
DOMAIN_PROMPT = ("12366纳税缴费服务热线：增值税、个人所得税、企业所得税、发票查验、纳税申报、"
                 "社保费。")
MAX_NEW_TOKENS = 96         # a question is a sentence; Chinese is about a token a character
BEAM_SIZE = 2
_PUNCT = re.compile(r"[\s\W_]+")


class WhisperUnavailable(RuntimeError):
    """faster-whisper or the model cannot be loaded."""


@functools.cache
def load_model(model_dir: Path, cpu_threads: int = 0) -> Any:
    """The CTranslate2 Whisper model in ``model_dir``, loaded once per process (int8 on CPU)."""
    try:
        from faster_whisper import WhisperModel
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise WhisperUnavailable("faster-whisper is not installed (make install)") from exc
    return WhisperModel(str(model_dir), device="cpu", compute_type="int8",
                        cpu_threads=cpu_threads, num_workers=2, local_files_only=True)


@functools.cache
def _t2s() -> Any:
    from opencc import OpenCC

    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional characters -> simplified (OpenCC t2s), full-width forms -> half width."""
    return str(_t2s().convert(unicodedata.normalize("NFKC", text)))


def read_wav(path: str) -> np.ndarray:
    """A 16-bit mono PCM WAV as float samples at 16 kHz."""
    with wave.open(path, "rb") as wav:
        if wav.getnchannels() != 1 or wav.getsampwidth() != 2:
            raise ValueError(f"{path}: Whisper input must be 16-bit mono PCM")
        rate = wav.getframerate()
        frames = wav.readframes(wav.getnframes())
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    return resample(samples, rate, SAMPLE_RATE)


def _echoes_prompt(text: str, prompt: str) -> bool:
    """Whisper's answer to audio it cannot read is often its prompt, whole or with terms
    skipped: a transcript that is a run of two or more of the prompt's terms and nothing else,
    or that holds three or more of them (no caller lists three tax terms in one breath), is
    not what the caller said."""
    bare = _PUNCT.sub("", text)
    terms = {t for t in re.split(r"[：:、，,。]", prompt) if len(t) >= 2}
    named = sum(t in bare for t in terms)
    return bool(bare) and (named >= 3 or (named >= 2 and bare in _PUNCT.sub("", prompt)))


class WhisperRecognizer:
    """The :class:`ivr.ports.SpeechRecognizer` on Whisper base (see the module)."""

    def __init__(self, model_dir: Path | str, *, beam_size: int = BEAM_SIZE,
                 max_new_tokens: int = MAX_NEW_TOKENS, prompt: str = DOMAIN_PROMPT,
                 cpu_threads: int = 0, assemble_missing: bool = True) -> None:
        self.model_dir = Path(model_dir).resolve()
        if assemble_missing:
            assemble(self.model_dir)
        if not (self.model_dir / "model.bin").is_file():
            raise WhisperUnavailable(f"{self.model_dir} has no model.bin")
        self.beam_size = beam_size
        self.max_new_tokens = max_new_tokens
        self.prompt = prompt
        self.cpu_threads = cpu_threads
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        with self._lock:
            return load_model(self.model_dir, self.cpu_threads)

    def transcribe(self, audio: np.ndarray, prompt: str | None = None,
                   max_new_tokens: int | None = None) -> tuple[str, float]:
        """(simplified text, confidence 0..1) of 16 kHz float samples."""
        prompt = self.prompt if prompt is None else prompt
        segments, _info = self.model.transcribe(
            audio, language="zh", task="transcribe", beam_size=self.beam_size, best_of=1,
            temperature=0.0, initial_prompt=prompt, condition_on_previous_text=False,
            without_timestamps=True, max_new_tokens=max_new_tokens or self.max_new_tokens,
            vad_filter=True)
        texts: list[str] = []
        weighted = 0.0
        weight = 0
        for segment in segments:
            text = segment.text.strip()
            if not text:
                continue
            texts.append(text)
            tokens = max(1, len(segment.tokens))
            weighted += segment.avg_logprob * tokens
            weight += tokens
        text = to_simplified("".join(texts)).strip()
        if not text or _echoes_prompt(text, prompt):
            return "", 0.0
        return text, min(1.0, math.exp(weighted / weight))

    def recognize(self, wav_path: str, phrases: list[str] | None = None) -> Transcript:
        audio = read_wav(wav_path)
        if not phrases:
            text, confidence = self.transcribe(audio)
            return Transcript(text=text, confidence=confidence, grammar="free")
        prompt = "、".join(phrases) + "。"
        longest = max(len(p) for p in phrases)
        text, confidence = self.transcribe(audio, prompt=prompt,
                                           max_new_tokens=min(self.max_new_tokens,
                                                              4 * longest + 8))
        match = match_on_pinyin(text, phrases)
        if match is None:
            # what was heard, with a confidence no node accepts as a phrase
            return Transcript(text=text, confidence=0.0, grammar="phrases")
        return Transcript(text=match.phrase, confidence=math.sqrt(confidence * match.score),
                          grammar="phrases")
