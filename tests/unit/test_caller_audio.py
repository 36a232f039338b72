"""The caller-side audio analysis (tests/caller_audio.py) on synthetic mu-law and RTP."""

from __future__ import annotations

import os
import socket
import struct
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from tests.caller_audio import (
    FRAME_SAMPLES,
    PCMU,
    RATE,
    ULAW_TO_LINEAR,
    Frame,
    NotRtp,
    RtpCapture,
    RtpPacket,
    envelope_match,
    frames_of,
    level,
    prompt_levels,
    rms,
    udp_payload,
    ulaw_decode,
    ulaw_encode,
    wav_frame_levels,
)
from tests.support import in_ci

TELEPHONE_EVENT = 101


def tone(amplitude: float, seconds: float, hz: float = 440.0) -> NDArray[np.int16]:
    n = int(RATE * seconds)
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(n) / RATE)).astype(np.int16)


def rtp(payload: bytes, seq: int = 1, payload_type: int = PCMU, csrcs: int = 0,
        extension: bytes | None = None, padding: int = 0) -> bytes:
    first = 0x80 | csrcs | (0x10 if extension is not None else 0) | (0x20 if padding else 0)
    header = struct.pack("!BBHII", first, payload_type, seq, seq * FRAME_SAMPLES, 0xCA110001)
    header += b"\0\0\0\1" * csrcs
    if extension is not None:
        header += struct.pack("!HH", 0xBEDE, len(extension) // 4) + extension
    tail = (b"\0" * (padding - 1) + bytes([padding])) if padding else b""
    return header + payload + tail


# -- mu-law --------------------------------------------------------------------------------


def test_mu_law_code_points() -> None:
    # G.711: 0xFF and 0x7F are zero, 0x80 / 0x00 the largest magnitudes, sign in bit 7
    assert ULAW_TO_LINEAR[0xFF] == 0
    assert ULAW_TO_LINEAR[0x7F] == 0
    assert ULAW_TO_LINEAR[0x80] == 32124
    assert ULAW_TO_LINEAR[0x00] == -32124
    assert ULAW_TO_LINEAR[0xF0] == 120
    assert ULAW_TO_LINEAR[0x70] == -120
    # decoding is monotonic within each sign
    assert np.all(np.diff(ULAW_TO_LINEAR[0x80:].astype(np.int32)) < 0)
    assert np.all(np.diff(ULAW_TO_LINEAR[:0x80].astype(np.int32)) > 0)


def test_mu_law_round_trip_keeps_the_signal() -> None:
    samples = np.linspace(-32000, 32000, 4001).astype(np.int16)
    decoded = ulaw_decode(ulaw_encode(samples)).astype(np.int32)
    error = np.abs(decoded - samples.astype(np.int32))
    # companding: about 3 % of the magnitude, a few steps near zero
    assert np.all(error <= np.maximum(16, 0.035 * np.abs(samples)))
    # every code decodes and encodes back to itself
    codes = np.arange(256, dtype=np.uint8)
    assert ulaw_encode(ULAW_TO_LINEAR[codes]) == ulaw_encode(ulaw_decode(codes.tobytes()))


@pytest.mark.parametrize("amplitude", [300.0, 3000.0, 20000.0])
def test_the_level_of_a_tone_survives_mu_law(amplitude: float) -> None:
    heard = rms(ulaw_decode(ulaw_encode(tone(amplitude, 0.02))))
    assert heard == pytest.approx(amplitude / np.sqrt(2), rel=0.04)
    assert rms(ulaw_decode(ulaw_encode(np.zeros(FRAME_SAMPLES, dtype=np.int16)))) == 0.0
    assert rms(np.zeros(0, dtype=np.int16)) == 0.0


# -- RTP -----------------------------------------------------------------------------------


def test_rtp_header_fields_and_payload() -> None:
    payload = ulaw_encode(tone(1000, 0.02))
    packet = RtpPacket.parse(rtp(payload, seq=7), at=12.5)
    assert (packet.payload_type, packet.seq, packet.timestamp, packet.ssrc) == (
        PCMU, 7, 7 * FRAME_SAMPLES, 0xCA110001)
    assert packet.payload == payload
    assert packet.at == 12.5


def test_rtp_csrcs_extension_and_padding_are_skipped() -> None:
    payload = bytes(range(160))
    data = rtp(payload, csrcs=2, extension=b"\1\2\3\4\5\6\7\x08", padding=4)
    assert RtpPacket.parse(data, 0.0).payload == payload


@pytest.mark.parametrize("data", [b"", b"\x80" * 11, b"\x40" + b"\0" * 171,
                                  bytes([0x9F]) + b"\0" * 20],
                         ids=["empty", "short", "version-1", "csrcs-past-the-end"])
def test_what_is_not_rtp_is_refused(data: bytes) -> None:
    with pytest.raises(NotRtp):
        RtpPacket.parse(data, 0.0)


def ip_udp(payload: bytes, dst: int, src: int = 10000, protocol: int = 17) -> bytes:
    udp = struct.pack("!HHHH", src, dst, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, protocol, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    return ip + udp


def test_udp_payload_only_of_the_watched_port() -> None:
    assert udp_payload(ip_udp(b"hello", dst=35100), 35100) == b"hello"
    assert udp_payload(ip_udp(b"hello", dst=35101), 35100) is None
    assert udp_payload(ip_udp(b"hello", dst=35100, protocol=6), 35100) is None  # TCP
    assert udp_payload(b"\x60" + b"\0" * 40, 35100) is None                     # IPv6
    assert udp_payload(b"\x45\0", 35100) is None


# -- frames and windows ---------------------------------------------------------------------


def test_frames_keep_audio_in_arrival_order_and_leave_key_events_out() -> None:
    loud = ulaw_encode(tone(5000, 0.02))
    quiet = ulaw_encode(np.zeros(FRAME_SAMPLES, dtype=np.int16))
    packets = [RtpPacket.parse(rtp(quiet, seq=2), 0.04),
               RtpPacket.parse(rtp(loud, seq=1), 0.02),
               RtpPacket.parse(rtp(b"\x01\x0a\x00\xa0", seq=3,
                                   payload_type=TELEPHONE_EVENT), 0.05)]
    frames = frames_of(packets)
    assert [f.at for f in frames] == [0.02, 0.04]
    assert frames[0].rms == pytest.approx(5000 / np.sqrt(2), rel=0.04)
    assert frames[1].rms == 0.0


def test_level_of_a_window() -> None:
    # 1 s of speech-like level, 1 s of silence, 0.5 s of speech, 20 ms apart
    levels = [2000.0] * 50 + [0.0] * 50 + [1500.0] * 25
    frames = [Frame(i * 0.02, r) for i, r in enumerate(levels)]
    speech = level(frames, 0.0, 1.0, threshold=100)
    assert (speech.frames, speech.loud, speech.peak) == (50, 50, 2000.0)
    assert speech.seconds == pytest.approx(1.0)
    silence = level(frames, 1.0, 2.0, threshold=100)
    assert (silence.frames, silence.loud, silence.peak) == (50, 0, 0.0)
    assert level(frames, 5.0, 6.0, threshold=100).frames == 0  # nothing arrived
    mixed = level(frames, 1.5, 2.25, threshold=100)
    assert (mixed.frames, mixed.loud) == (38, 13)
    assert mixed.loud_seconds == pytest.approx(0.26)


def write_wav(path: Path, samples: NDArray[np.int16], rate: int = RATE) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.astype("<i2").tobytes())


def test_prompt_levels_follow_the_files_and_the_cut(tmp_path: Path) -> None:
    write_wav(tmp_path / "a.wav", np.concatenate([tone(4000, 0.5), np.zeros(4000, np.int16)]))
    write_wav(tmp_path / "b.wav", tone(2000, 0.4))
    a = wav_frame_levels(tmp_path / "a.wav")
    assert len(a) == 50
    assert np.all(a[:25] > 2500)
    assert np.all(a[25:] == 0)
    both = prompt_levels(tmp_path, ["a", "b"])
    assert len(both) == 70
    # a key stopped b after 1000 samples: 7 frames of it were sent (the last one partly)
    cut = prompt_levels(tmp_path, ["a", "b"], endpos=1000)
    assert len(cut) == 57
    assert len(prompt_levels(tmp_path, [])) == 0
    write_wav(tmp_path / "wide.wav", tone(2000, 0.1, hz=440), rate=16000)
    with pytest.raises(ValueError, match="8 kHz"):
        wav_frame_levels(tmp_path / "wide.wav")


def test_envelope_match_tells_one_prompt_from_another() -> None:
    rng = np.random.default_rng(12366)
    expected = np.abs(rng.normal(3000, 2000, 200))
    heard = list(expected * 0.98 + rng.normal(0, 50, 200))  # the same, through mu-law
    assert envelope_match(heard, expected) > 0.95
    other = np.abs(rng.normal(3000, 2000, 200))
    assert abs(envelope_match(heard, other)) < 0.3
    assert envelope_match([], expected) == 0.0
    assert envelope_match([1000.0] * 10, expected) == 0.0  # flat: nothing to compare


# -- capture on loopback --------------------------------------------------------------------


def test_capture_gets_the_rtp_sent_to_its_port_with_arrival_times() -> None:
    if os.geteuid() != 0:
        if in_ci():
            pytest.fail("the RTP capture test needs root (CAP_NET_RAW) in CI", pytrace=False)
        pytest.skip("capturing on loopback needs root (CAP_NET_RAW)")
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    port = receiver.getsockname()[1]
    decoy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    decoy.bind(("127.0.0.1", 0))
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    loud = ulaw_encode(tone(6000, 0.02))
    try:
        with RtpCapture(port) as capture:
            before = time.monotonic()
            for seq in range(1, 6):
                sender.sendto(rtp(loud, seq=seq), ("127.0.0.1", port))
                sender.sendto(rtp(loud, seq=100 + seq), decoy.getsockname())
                time.sleep(0.02)
            sender.sendto(b"not rtp", ("127.0.0.1", port))
            after = time.monotonic()
            deadline = time.monotonic() + 3
            while (len(capture.packets) < 5 or capture.not_rtp < 1) and \
                    time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        for sock in (receiver, decoy, sender):
            sock.close()
    assert [p.seq for p in capture.packets] == [1, 2, 3, 4, 5]  # each once, none of the decoy
    assert capture.not_rtp == 1
    times = [p.at for p in capture.packets]
    assert before <= times[0]
    assert times[-1] <= after
    assert times == sorted(times)
    assert min(np.diff(times)) > 0.015  # the kernel's arrival stamps keep the 20 ms pacing
    assert all(f.rms > 3000 for f in frames_of(capture.packets))
