"""Sample-rate conversion and the telephone channel (G.711 µ-law) in numpy.

Used on both sides of a call: Whisper needs 16 kHz from the 8 kHz the channel carries, the
neural voice renders at 24 kHz for an 8 kHz channel, and the benchmarks pass synthesized speech
through µ-law as a real call would.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Samples = np.ndarray[Any, np.dtype[np.float32]]

_ULAW_BIAS = 0x21           # of the 14-bit encoder
_ULAW_CLIP = 8159
_ULAW_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])


def lowpass(taps: int, cutoff: float) -> Samples:
    """A Kaiser-windowed sinc low-pass with unit gain, ``cutoff`` as a fraction of Nyquist."""
    n = np.arange(taps) - (taps - 1) / 2
    kernel = cutoff * np.sinc(cutoff * n) * np.kaiser(taps, 8.0)
    return np.asarray(kernel / kernel.sum(), dtype=np.float32)


def resample(samples: np.ndarray, rate: int, target: int) -> Samples:
    """Float samples at ``rate`` -> ``target``. An integer ratio up (8 -> 16 kHz) by zero
    stuffing and a windowed-sinc low-pass, down (24 -> 8 kHz) by a low-pass and decimation;
    any other ratio by a low-pass (when going down) and linear interpolation."""
    samples = np.asarray(samples, dtype=np.float32)
    if rate == target or samples.size == 0:
        return samples
    if target % rate == 0:
        factor = target // rate
        stuffed = np.zeros(samples.size * factor, dtype=np.float32)
        stuffed[::factor] = samples
        kernel = lowpass(16 * factor + 1, 1.0 / factor) * factor
        return np.convolve(stuffed, kernel, mode="same").astype(np.float32)
    if target < rate:
        samples = np.convolve(samples, lowpass(64 * rate // target + 1, 0.95 * target / rate),
                              mode="same").astype(np.float32)
        if rate % target == 0:
            return np.asarray(samples[:: rate // target], dtype=np.float32)
    times = np.arange(round(samples.size * target / rate)) * (rate / target)
    return np.asarray(np.interp(times, np.arange(samples.size), samples), dtype=np.float32)


def ulaw_encode(pcm: np.ndarray) -> np.ndarray:
    """16-bit linear PCM -> G.711 µ-law bytes (the 14-bit reference algorithm)."""
    x = np.asarray(pcm, dtype=np.int32) >> 2
    mask = np.where(x < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(x), _ULAW_CLIP) + _ULAW_BIAS
    segment = np.searchsorted(_ULAW_SEGMENT_ENDS, magnitude)
    code = (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    return (np.where(segment >= 8, 0x7F, code) ^ mask).astype(np.uint8)


def ulaw_decode(codes: np.ndarray) -> np.ndarray:
    """G.711 µ-law bytes -> 16-bit linear PCM."""
    u = ~np.asarray(codes, dtype=np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    magnitude = ((((u & 0x0F) << 3) + 0x84) << exponent) - 0x84
    return np.where(u & 0x80, -magnitude, magnitude).astype(np.int16)


def telephone(samples: np.ndarray, rate: int) -> np.ndarray:
    """Float samples at ``rate`` as a G.711 µ-law channel delivers them: 8 kHz 16-bit PCM."""
    narrow = resample(samples, rate, 8000)
    pcm = np.clip(np.round(narrow * 32767.0), -32768, 32767).astype(np.int16)
    return ulaw_decode(ulaw_encode(pcm))
