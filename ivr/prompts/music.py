"""Music on hold of the hotline: a calm melody on the Chinese pentatonic scale (宫商角徵羽),
composed and synthesised here, so there is no recording to license. Rendered as the prompts
are (8 kHz, 16-bit mono WAV) into ``sounds/moh/``, the directory of the ``hotline`` music
class (``ivr/pbx/asterisk/musiconhold.conf``); Asterisk loops it while a caller waits in a
queue. The synthesis is deterministic: the same recipe gives the same samples.
"""

from __future__ import annotations

import json
import math
import wave
from pathlib import Path

import numpy as np

from ivr.prompts.tts import SAMPLE_RATE

MUSIC_FILE = "hotline-melody.wav"
RECIPE = "1"  # bump when the melody or its synthesis changes: the file is rendered again

BEAT_S = 0.75  # 80 beats per minute
# D major pentatonic (D E F# A B; 宫 = D4): Hz per note name
NOTES = {"A3": 220.00, "B3": 246.94, "D4": 293.66, "E4": 329.63, "F#4": 369.99,
         "A4": 440.00, "B4": 493.88, "D5": 587.33, "E5": 659.26}
# (note, beats): two phrases of eight bars in 4/4, the second answering the first
MELODY: tuple[tuple[str, float], ...] = (
    ("F#4", 1), ("A4", 1), ("B4", 1.5), ("A4", 0.5),
    ("F#4", 1), ("E4", 1), ("D4", 2),
    ("E4", 1), ("F#4", 1), ("A4", 1), ("D5", 1),
    ("B4", 2), ("A4", 2),
    ("B4", 1), ("D5", 1), ("E5", 1.5), ("D5", 0.5),
    ("B4", 1), ("A4", 1), ("F#4", 2),
    ("E4", 1), ("F#4", 0.5), ("E4", 0.5), ("D4", 1), ("E4", 1),
    ("D4", 4),
)
# one bass note per bar, an octave or so below
BASS: tuple[str, ...] = ("D4", "B3", "A3", "B3", "D4", "B3", "A3", "D4")
PEAK = 0.35  # of full scale: quieter than the prompts, never clipping on the line


def _pluck(freq: float, seconds: float, level: float) -> np.ndarray:
    """One soft plucked note: a few harmonics, quick attack, exponential decay."""
    n = round(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tone = (np.sin(2 * math.pi * freq * t) + 0.35 * np.sin(4 * math.pi * freq * t)
            + 0.12 * np.sin(6 * math.pi * freq * t))
    attack = np.minimum(1.0, t / 0.015)
    decay = np.exp(-t * 2.2)
    release = np.minimum(1.0, (seconds - t) / 0.05)  # no click at the next note
    return np.asarray(level * tone * attack * decay * release)


def melody() -> np.ndarray:
    """The melody as 16-bit samples at 8 kHz."""
    beats = sum(b for _n, b in MELODY)
    total = round(beats * BEAT_S * SAMPLE_RATE)
    out = np.zeros(total)
    at = 0.0
    for note, beats_of in MELODY:
        start = round(at * BEAT_S * SAMPLE_RATE)
        voice = _pluck(NOTES[note], beats_of * BEAT_S, 1.0)
        out[start:start + len(voice)] += voice[:total - start]
        at += beats_of
    bar = 4 * BEAT_S
    for index, note in enumerate(BASS):
        start = round(index * bar * SAMPLE_RATE)
        voice = _pluck(NOTES[note] / 2, bar, 0.45)
        out[start:start + len(voice)] += voice[:total - start]
    out *= PEAK / float(np.max(np.abs(out)))
    fade = int(0.02 * SAMPLE_RATE)  # the loop joins end to start without a click
    out[:fade] *= np.linspace(0.0, 1.0, fade)
    out[-fade:] *= np.linspace(1.0, 0.0, fade)
    return np.round(out * 32767).astype("<i2")


def render_music(out_dir: Path, force: bool = False) -> bool:
    """Write the music into ``out_dir`` unless it is there from the same recipe (its
    ``manifest.json``); True when written."""
    target = out_dir / MUSIC_FILE
    manifest_path = out_dir / "manifest.json"
    manifest: dict[str, str] = {}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
    if not force and target.exists() and manifest.get(MUSIC_FILE) == RECIPE:
        return False
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".tmp")
    with wave.open(str(partial), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(melody().tobytes())
    partial.replace(target)
    manifest[MUSIC_FILE] = RECIPE
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return True
