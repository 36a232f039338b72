"""What a SIP caller heard: the RTP that Asterisk sent to the caller's media port, captured on
loopback, decoded from G.711 mu-law (PCMU) and measured as RMS per 20 ms frame, to be lined up
with the call's timeline (audio while a prompt plays, silence while the IVR waits for keys).

The capture reads a copy of every packet on the loopback interface (an ``AF_PACKET`` socket, so
it needs root or CAP_NET_RAW, like the Asterisk sandbox itself) and keeps the UDP datagrams sent
to one port; the kernel stamps each packet on arrival, so the times do not depend on when the
reading thread gets the CPU. Times are ``time.monotonic()`` seconds.
"""

from __future__ import annotations

import math
import socket
import struct
import threading
import time
import wave
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
from numpy.typing import NDArray

FRAME_SAMPLES = 160          # 20 ms at 8 kHz, one PCMU packet
RATE = 8000
PCMU = 0                     # RTP payload type of G.711 mu-law
# Linux's SO_TIMESTAMPNS (asm-generic/socket.h); Python's socket module does not export it
SO_TIMESTAMPNS = 35
_ETH_P_IP = 0x0800
_PACKET_OUTGOING = 4         # loopback shows every packet twice: sent, then received


# -- G.711 mu-law ---------------------------------------------------------------------------

_BIAS = 0x84
_CLIP = 32635


def _decode_table() -> NDArray[np.int16]:
    codes = np.arange(256, dtype=np.int32)
    u = ~codes & 0xFF
    exponent = (u >> 4) & 0x07
    magnitude = (((u & 0x0F) << 3) + _BIAS) << exponent
    linear = magnitude - _BIAS
    return np.where(u & 0x80, -linear, linear).astype(np.int16)


ULAW_TO_LINEAR = _decode_table()


def ulaw_decode(payload: bytes) -> NDArray[np.int16]:
    """16-bit linear samples of mu-law bytes."""
    return ULAW_TO_LINEAR[np.frombuffer(payload, dtype=np.uint8)]


def ulaw_encode(samples: NDArray[np.int16] | Sequence[int]) -> bytes:
    """Mu-law bytes of 16-bit linear samples (for synthetic test signals)."""
    x = np.asarray(samples, dtype=np.int32)
    sign = np.where(x < 0, 0x80, 0x00)
    magnitude = np.minimum(np.abs(x), _CLIP) + _BIAS
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    codes: NDArray[np.uint8] = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)
    return codes.tobytes()


def rms(samples: NDArray[np.int16]) -> float:
    if samples.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


# -- RTP ------------------------------------------------------------------------------------


class NotRtp(ValueError):
    """A datagram that is not an RTP packet."""


@dataclass(frozen=True)
class RtpPacket:
    at: float           # arrival, time.monotonic() seconds
    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    payload: bytes

    @classmethod
    def parse(cls, data: bytes, at: float) -> RtpPacket:
        """An RTP packet (RFC 3550): version 2, CSRCs, header extension and padding."""
        if len(data) < 12:
            raise NotRtp(f"{len(data)} bytes is shorter than an RTP header")
        first, second, seq, timestamp, ssrc = struct.unpack("!BBHII", data[:12])
        if first >> 6 != 2:
            raise NotRtp(f"RTP version {first >> 6}, not 2")
        offset = 12 + 4 * (first & 0x0F)
        if first & 0x10:
            if len(data) < offset + 4:
                raise NotRtp("truncated header extension")
            (words,) = struct.unpack("!H", data[offset + 2:offset + 4])
            offset += 4 + 4 * words
        end = len(data)
        if first & 0x20:
            end -= data[-1]
        if offset > end:
            raise NotRtp("header longer than the packet")
        return cls(at, second & 0x7F, seq, timestamp, ssrc, data[offset:end])


@dataclass(frozen=True)
class Frame:
    """One PCMU packet as heard: when it arrived, and its level (RMS, 16-bit linear)."""

    at: float
    rms: float


def frames_of(packets: Iterable[RtpPacket], payload_type: int = PCMU) -> list[Frame]:
    """The audio packets (RFC 4733 key events and others are left out), in arrival order."""
    return [Frame(p.at, rms(ulaw_decode(p.payload)))
            for p in sorted(packets, key=lambda p: p.at) if p.payload_type == payload_type]


@dataclass(frozen=True)
class Level:
    """The frames of a time window: how many, how many carry sound (RMS above a threshold),
    and the loudest."""

    frames: int
    loud: int
    peak: float

    @property
    def seconds(self) -> float:
        return self.frames * FRAME_SAMPLES / RATE

    @property
    def loud_seconds(self) -> float:
        return self.loud * FRAME_SAMPLES / RATE


def level(frames: Sequence[Frame], start: float, end: float, threshold: float) -> Level:
    """The frames that arrived in [start, end)."""
    inside = [f.rms for f in frames if start <= f.at < end]
    return Level(len(inside), sum(1 for r in inside if r > threshold),
                 max(inside, default=0.0))


def wav_frame_levels(path: Path) -> NDArray[np.float64]:
    """RMS per 20 ms frame of an 8 kHz 16-bit mono WAV (a prompt file)."""
    with wave.open(str(path), "rb") as wav:
        if (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) != (RATE, 2, 1):
            raise ValueError(f"{path}: not 8 kHz 16-bit mono")
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    n = len(samples) // FRAME_SAMPLES
    blocks = samples[:n * FRAME_SAMPLES].reshape(n, FRAME_SAMPLES).astype(np.float64)
    levels: NDArray[np.float64] = np.sqrt(np.mean(blocks ** 2, axis=1))
    return levels


def prompt_levels(sounds: Path, prompts: Sequence[str],
                  endpos: int | None = None) -> NDArray[np.float64]:
    """RMS per 20 ms frame of what playing ``prompts`` in turn sends: their files one after
    the other, the last one cut at sample ``endpos`` when a key stopped it there."""
    parts = [wav_frame_levels(sounds / f"{p}.wav") for p in prompts]
    if parts and endpos is not None:
        parts[-1] = parts[-1][:math.ceil(endpos / FRAME_SAMPLES)]
    return np.concatenate(parts) if parts else np.zeros(0)


def envelope_match(heard: Sequence[float], expected: NDArray[np.float64]) -> float:
    """Pearson correlation of two level envelopes over their common length (1: the same
    rises and falls); 0 when either is flat or empty."""
    n = min(len(heard), len(expected))
    if n < 2:
        return 0.0
    a = np.asarray(heard[:n], dtype=np.float64)
    b = expected[:n]
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


# -- capture --------------------------------------------------------------------------------


def udp_payload(ip_packet: bytes, port: int) -> bytes | None:
    """The payload of an IPv4 UDP datagram sent to ``port``; None for anything else."""
    if len(ip_packet) < 20 or ip_packet[0] >> 4 != 4 or ip_packet[9] != socket.IPPROTO_UDP:
        return None
    header = (ip_packet[0] & 0x0F) * 4
    if len(ip_packet) < header + 8:
        return None
    _src, dst, length = struct.unpack("!HHH", ip_packet[header:header + 6])
    if dst != port:
        return None
    return ip_packet[header + 8:header + length]


class RtpCapture:
    """The RTP packets sent to ``port`` on the loopback interface while it runs.

    Use as a context manager; ``packets`` holds what arrived. Needs root (CAP_NET_RAW)."""

    def __init__(self, port: int, interface: str = "lo") -> None:
        self.port = port
        self.interface = interface
        self.packets: list[RtpPacket] = []
        self.not_rtp = 0
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        # kernel stamps are wall-clock times; this turns them into monotonic ones
        self._offset = time.time() - time.monotonic()

    def start(self) -> None:
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(_ETH_P_IP))
        except PermissionError as exc:
            raise PermissionError("capturing RTP on loopback needs root (CAP_NET_RAW)") from exc
        sock.bind((self.interface, _ETH_P_IP))
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.settimeout(0.2)
        self._sock = sock
        self._thread = threading.Thread(target=self._run, name=f"rtp-capture-{self.port}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> list[RtpPacket]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._sock is not None:
            self._sock.close()
        return self.packets

    def __enter__(self) -> RtpCapture:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        assert self._sock is not None
        space = socket.CMSG_SPACE(16)
        while not self._stop.is_set():
            try:
                data, ancillary, _flags, address = self._sock.recvmsg(65535, space)
            except TimeoutError:
                continue
            except OSError:
                return
            if address[2] == _PACKET_OUTGOING:
                continue
            payload = udp_payload(data, self.port)
            if payload is None:
                continue
            at = time.monotonic()
            for level_, kind, value in ancillary:
                if level_ == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    seconds, nanos = struct.unpack("qq", value[:16])
                    at = seconds + nanos / 1e9 - self._offset
            try:
                self.packets.append(RtpPacket.parse(payload, at))
            except NotRtp:
                self.not_rtp += 1
