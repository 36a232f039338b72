"""Text to telephone audio: espeak-ng (voice ``cmn-latn-pinyin``) -> pydub -> 8 kHz mono WAV."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

with warnings.catch_warnings():
    # pydub warns at import that ffmpeg is absent; WAV in and out needs no ffmpeg.
    warnings.simplefilter("ignore", RuntimeWarning)
    from pydub import AudioSegment

from ivr.prompts.spoken import speakable

VOICE = "cmn-latn-pinyin"
SAMPLE_RATE = 8000
SPEED_WPM = 170


def fingerprint(text: str) -> str:
    """A hash of what the audio of ``text`` depends on: the voice, its speed and rate, and the
    words spoken (not the written text: a change in how a text is read renders it again)."""
    spoken = speakable(text)
    return hashlib.sha256(f"{VOICE}|{SPEED_WPM}|{SAMPLE_RATE}|{spoken}".encode()).hexdigest()


class TtsUnavailable(RuntimeError):
    """espeak-ng is not installed."""


def _trimmed(audio: AudioSegment, keep_ms: int = 30) -> AudioSegment:
    """Without leading and trailing silence (read-back fragments are played in a row)."""
    from pydub.silence import detect_leading_silence

    start = max(0, detect_leading_silence(audio, silence_threshold=-45.0) - keep_ms)
    end = max(0, detect_leading_silence(audio.reverse(), silence_threshold=-45.0) - keep_ms)
    trimmed = audio[start:len(audio) - end]
    return trimmed if len(trimmed) > 50 else audio


def synthesize(text: str, out_path: Path, speed_wpm: int = SPEED_WPM, trim: bool = False
               ) -> float:
    """Render ``text`` to an 8 kHz, 16-bit mono WAV at ``out_path``; returns seconds.
    ``trim`` cuts leading and trailing silence (for fragments of a dynamic read-back)."""
    if shutil.which("espeak-ng") is None:
        raise TtsUnavailable("espeak-ng is not installed (apt-get install espeak-ng)")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run(
            ["espeak-ng", "-v", VOICE, "-s", str(speed_wpm), "-w", str(raw), speakable(text)],
            check=True, capture_output=True,
        )
        audio = AudioSegment.from_wav(raw)
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
