"""Audio of knowledge-base answers, and of the entries' standard questions (spoken when the
caller is asked to confirm one), cached by a hash of the text: ``sounds/zh/kb/<hash>.wav``.

A text is rendered when it is first needed (``hotline prompts render``, start-up, or a call
asking for it) and again only when what is spoken changes (its text, how the spoken-text
normaliser reads it, or the voice, ``HOTLINE_TTS_VOICE``); ``sync`` removes files no text uses.
The folder is not committed (``.gitignore``): it is derived from the knowledge base.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ivr.prompts.tts import DEFAULT_VOICE, fingerprint, synthesize, voice_key

SUBDIR = "kb"


def answer_key(text: str, voice: str = DEFAULT_VOICE) -> str:
    """The file name of ``text`` said by ``voice``: another voice, another file."""
    return fingerprint(text, voice)[:20]


@dataclass(frozen=True)
class SyncReport:
    rendered: int
    unchanged: int
    removed: int


class AnswerAudio:
    def __init__(self, sounds_dir: Path, voice: str = DEFAULT_VOICE) -> None:
        voice_key(voice)  # an unknown voice fails here, not on the first call
        self.dir = sounds_dir / SUBDIR
        self.voice = voice
        self._lock = threading.Lock()

    def prompt_id(self, text: str) -> str:
        return f"{SUBDIR}/{answer_key(text, self.voice)}"

    def path(self, text: str) -> Path:
        return self.dir / f"{answer_key(text, self.voice)}.wav"

    def ensure(self, text: str) -> str:
        """The prompt id of ``text``'s audio, rendered first if missing (blocking)."""
        target = self.path(text)
        if not target.exists():
            with self._lock:
                if not target.exists():
                    synthesize(text, target, voice=self.voice)
        return self.prompt_id(text)

    def sync(self, texts: Iterable[str], remove_stale: bool = True) -> SyncReport:
        """Render every missing answer; remove audio of answers that no longer exist."""
        wanted: set[str] = set()
        rendered = unchanged = 0
        for text in texts:
            key = answer_key(text, self.voice)
            wanted.add(key)
            if (self.dir / f"{key}.wav").exists():
                unchanged += 1
                continue
            self.ensure(text)
            rendered += 1
        removed = 0
        if remove_stale and self.dir.is_dir():
            for path in self.dir.glob("*.wav"):
                if path.stem not in wanted:
                    path.unlink(missing_ok=True)
                    removed += 1
        return SyncReport(rendered, unchanged, removed)
