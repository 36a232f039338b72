"""Every FAQ answer is short enough for the phone: rendered the way the IVR renders it
(ivr/prompts/tts.py: espeak-ng, cmn-latn-pinyin, 170 words a minute, 8 kHz), it lasts at most
40 seconds. Needs espeak-ng (a system dependency, scripts/system-deps.sh): outside CI the test
skips without it, in CI the skip policy turns that skip into a failure."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ivr.prompts.tts import synthesize
from knowledge_base import DEFAULT_DATA_DIR, load_data

MAX_SECONDS = 40.0


def _require_espeak() -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")


def _spoken_seconds(texts: dict[str, str], out_dir: Path) -> dict[str, float]:
    """Render each text to a WAV of its own, as the IVR does, and return its length."""
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = sorted(texts)
    with ThreadPoolExecutor(max_workers=2) as pool:  # espeak-ng runs as a child process
        seconds = pool.map(
            lambda pair: synthesize(texts[pair[1]], out_dir / f"{pair[0]}.wav"),
            enumerate(keys),
        )
        return dict(zip(keys, seconds, strict=True))


def test_every_answer_speaks_within_40_seconds(tmp_path: Path) -> None:
    _require_espeak()
    result = load_data(DEFAULT_DATA_DIR)
    assert result.ok
    assert len(result.entries) >= 200
    seconds = _spoken_seconds({e.id: e.answer for e in result.entries}, tmp_path)
    assert len(seconds) == len(result.entries)
    too_long = {
        entry_id: round(value, 1) for entry_id, value in seconds.items() if value > MAX_SECONDS
    }
    assert not too_long, f"answers over {MAX_SECONDS:.0f} s when spoken: {too_long}"
    # Every answer is a real rendering: at least a few seconds of audio each.
    assert min(seconds.values()) > 5.0


def test_the_measure_fails_a_long_answer(tmp_path: Path) -> None:
    """The same measure on three times an answer goes over the limit."""
    _require_espeak()
    entry = load_data(DEFAULT_DATA_DIR).entries[0]
    long_text = entry.answer * 3
    seconds = _spoken_seconds({"one": entry.answer, "three": long_text}, tmp_path)
    assert seconds["one"] <= MAX_SECONDS < seconds["three"]
    assert seconds["three"] > 2.5 * seconds["one"]
