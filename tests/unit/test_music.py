"""The music on hold: synthesised, deterministic, telephone format, rendered only when its
recipe changes; the committed file is the current recipe's."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np

from callcenter.settings import PROJECT_ROOT
from ivr.prompts import music

MOH = PROJECT_ROOT / "sounds" / "moh"


def samples_of(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")


def test_the_melody_is_a_steady_tune_for_the_telephone() -> None:
    samples = music.melody()
    assert samples.dtype == np.dtype("<i2")
    seconds = len(samples) / 8000
    assert 20 <= seconds <= 40
    assert np.array_equal(samples, music.melody())  # deterministic
    peak = int(np.max(np.abs(samples.astype(np.int32))))
    assert 0.25 * 32767 < peak <= 0.4 * 32767  # below the prompts, never clipping
    frames = samples[: len(samples) // 160 * 160].reshape(-1, 160).astype(np.float64)
    loud = np.sqrt(np.mean(frames ** 2, axis=1)) > 100
    assert loud.mean() > 0.9  # music all along: no gap a caller would take for a dead line
    assert abs(int(samples[0])) < 200  # loops without a click
    assert abs(int(samples[-1])) < 200
    # its notes: the D major pentatonic (D E F# A B) the melody is written in
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    freqs = np.fft.rfftfreq(len(samples), 1 / 8000)
    band = (freqs > 250) & (freqs < 700)
    strongest = freqs[band][np.argmax(spectrum[band])]
    assert min(abs(strongest - f) for f in music.NOTES.values()) < 3


def test_render_music_is_incremental(tmp_path: Path) -> None:
    assert music.render_music(tmp_path) is True
    first = (tmp_path / music.MUSIC_FILE).stat().st_mtime_ns
    assert music.render_music(tmp_path) is False
    assert (tmp_path / music.MUSIC_FILE).stat().st_mtime_ns == first
    assert json.loads((tmp_path / "manifest.json").read_text()) == {
        music.MUSIC_FILE: music.RECIPE}
    assert music.render_music(tmp_path, force=True) is True
    (tmp_path / music.MUSIC_FILE).unlink()
    assert music.render_music(tmp_path) is True
    assert np.array_equal(samples_of(tmp_path / music.MUSIC_FILE), music.melody())


def test_the_shipped_music_is_rendered_from_the_current_recipe() -> None:
    manifest = json.loads((MOH / "manifest.json").read_text())
    assert manifest == {music.MUSIC_FILE: music.RECIPE}, "re-render: hotline prompts render"
    shipped = samples_of(MOH / music.MUSIC_FILE)
    assert len(shipped) == len(music.melody())
    # the same tune (floating point may differ in the last bit between machines)
    assert np.max(np.abs(shipped.astype(np.int32) - music.melody().astype(np.int32))) <= 2
