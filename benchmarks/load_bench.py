"""N concurrent SIPp calls held for a set time through the hotline as it is deployed.

``python benchmarks/load_bench.py --calls N --duration S [--db sqlite|postgresql]`` starts, on its
own ports (``HOTLINE_BENCH_PORT_BASE``, default 25000; everything within base..base+4999):

* a sandboxed Asterisk whose RTP range is sized for N (4 ports per concurrent call and per agent
  leg, plus room) and with a pool of agent endpoints (``ivr.pbx.sandbox.AgentPool``);
* ``hotline bridge --node pbx1`` and ``hotline serve`` as separate processes on Redis (a prefix
  of their own, deleted at the end) and the chosen database (a SQLite file, or a PostgreSQL
  database on 127.0.0.1:5432 that the benchmark creates and drops);
* agents (``max(4, N // 10)``) logged in through the API and made ready (queue ``consult``), their
  phones one SIPp UAS that rings 0.5 s, answers, talks 3 s and hangs up;
* four SIPp caller instances, one per path, each holding its share of the N calls (SIPp's
  ``-l``: a call that ends is replaced at once) for S seconds, then told to stop placing calls
  (``q`` on its control port) and waited for:
  FAQ by keys (1 2 1, then 2 "another question"), invoice check (code, number, amount, each
  read back and confirmed), 0 to an agent, and a hang-up in the consultation menu.

Key-to-prompt at the caller: a packet capture on the loopback interface (an AF_PACKET socket
with a kernel filter on the callers' SIP and media ports, kernel receive timestamps) sees each
SIP INFO key leave the caller and the RTP that Asterisk sends to the caller's media port. For a
key after which the caller waits at least 1 s, the time runs from the INFO to the arrival of
the next prompt's first sounding frame (20 ms with a sample above -36 dBFS), recognised by its
content (two packets in a row that are the first sounding frames of a prompt file in
``sounds/zh``: ``PromptIndex``, compared on each sample's sign and µ-law segment) or by its
stream (the first packet after the key that starts a new stream: RTP marker bit or a gap of
30 ms; from there the first with energy), whichever comes first (``key_latency``). This is
what reaches the caller's socket, the prompt's own leading silence included; SIPp itself
cannot time received audio.

Prints one JSON line (``result_line``). Stops only what it started, by PID, on Ctrl-C too.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import math
import multiprocessing
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import wave
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callcenter.settings import PROJECT_ROOT as ROOT
from ivr.pbx.sipp import (
    KEEPALIVE_PCAP,
    Dtmf,
    Hangup,
    Pause,
    SippRunner,
    Step,
    agent_scenario,
    caller_scenario,
    keepalive_pcap,
)

if TYPE_CHECKING:
    from ivr.pbx.sandbox import PbxPorts

OPEN_TIME = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Shanghai: agents in
KEYS = ("calls_placed", "contacts_logged", "lost", "duplicates", "leaked_sessions",
        "key_to_prompt_ms_p50", "key_to_prompt_ms_p99", "bridge_cpu_s_per_call",
        "asterisk_cpu_s_per_call", "db")
PASSWORD = "load-bench-password-1"
# a key counts for key-to-prompt when the caller then waits this long before the next key
# (the digits of an entry follow each other faster and start no prompt)
MEASURED_GAP_S = 1.0
NEW_STREAM_GAP_S = 0.030  # Asterisk sends a prompt's frames every 20 ms
ENERGY_THRESHOLD = 512  # of 32767: about -36 dBFS
PROMPT_WINDOW_S = 10.0  # no prompt within this after a key: counted in keys_without_prompt


# -- pure parts (tests/unit/test_load_bench.py) ------------------------------------------------

def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (nearest rank), None without values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def count_contacts(placed: Sequence[str], contacts: Sequence[tuple[str, bool]]
                   ) -> dict[str, int]:
    """``placed``: the caller number of every call placed (unique per call); ``contacts``:
    (caller number, complete) of every contact logged. A call is lost unless it has exactly one
    contact and that one is complete; every contact beyond the first of a call is a duplicate;
    contacts of numbers never placed are counted apart (``contacts_unmatched``)."""
    by_number: dict[str, list[bool]] = {}
    for number, complete in contacts:
        by_number.setdefault(number, []).append(complete)
    wanted = set(placed)
    lost = sum(1 for n in wanted if len(by_number.get(n, [])) != 1 or not by_number[n][0])
    duplicates = sum(len(v) - 1 for n, v in by_number.items() if n in wanted and len(v) > 1)
    return {"lost": lost, "duplicates": duplicates,
            "contacts_unmatched": sum(len(v) for n, v in by_number.items() if n not in wanted),
            "contacts_incomplete": sum(1 for v in by_number.values() for c in v if not c)}


def result_line(figures: dict[str, Any]) -> str:
    """The one JSON line: the required keys first (KeyError when one is missing), then the
    extra figures sorted; floats rounded to 4 decimals."""
    missing = [k for k in KEYS if k not in figures]
    if missing:
        raise KeyError(f"missing figures: {', '.join(missing)}")

    def tidy(value: Any) -> Any:
        return round(value, 4) if isinstance(value, float) else value

    ordered = {k: tidy(figures[k]) for k in KEYS}
    ordered.update({k: tidy(figures[k]) for k in sorted(figures) if k not in ordered})
    return json.dumps(ordered, ensure_ascii=False, separators=(", ", ": "))


def _mulaw_magnitude(byte: int) -> int:
    u = ~byte & 0xFF
    magnitude = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return magnitude - 0x84


MULAW_MAGNITUDE = bytes(min(255, _mulaw_magnitude(b) >> 7) for b in range(256))


def has_energy(payload: bytes, threshold: int = ENERGY_THRESHOLD) -> bool:
    """Whether a PCMU payload has a sample above ``threshold`` (linear, of 32767)."""
    return bool(payload) and max(payload.translate(MULAW_MAGNITUDE)) >= threshold >> 7


def mulaw_encode(samples: Any) -> bytes:
    """G.711 µ-law of 16-bit linear samples (a numpy array)."""
    import numpy as np

    x = np.asarray(samples, dtype=np.int32)
    sign = np.where(x < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(x), 32635) + 0x84
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return bytes((~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes())


# a µ-law byte's sign and segment (its top 4 bits): Asterisk's encoder and ours differ in a few
# low bits of some samples, rarely in these
SEGMENT = bytes((b ^ 0xFF) >> 4 for b in range(256))
WINDOWS = (0, 40, 80, 120)
WINDOW = 16


class PromptIndex:
    """The first sounding frames (20 ms) of every prompt file, to recognise a prompt's start
    in the RTP a caller receives (the files are what Asterisk plays: 8 kHz 16-bit WAV)."""

    def __init__(self) -> None:
        self.windows: dict[tuple[int, bytes], list[tuple[int, int]]] = {}
        self.frames: list[list[bytes]] = []   # per prompt: segment signatures of its frames
        self.first: list[int] = []            # per prompt: its first sounding frame
        self.names: list[str] = []

    def add(self, name: str, samples: Any, frames: int = 4) -> None:
        payload = mulaw_encode(samples)
        count = len(payload) // 160
        first = next((i for i in range(count)
                      if has_energy(payload[i * 160:(i + 1) * 160])), None)
        if first is None:
            return
        prompt = len(self.frames)
        signatures: list[bytes] = []
        for i in range(first, min(count, first + frames)):
            signature = payload[i * 160:(i + 1) * 160].translate(SEGMENT)
            signatures.append(signature)
            for w in WINDOWS:
                window = signature[w:w + WINDOW]
                if any(window):  # never a window of silence
                    self.windows.setdefault((w, window), []).append((prompt, i - first))
        self.frames.append(signatures)
        self.first.append(first)
        self.names.append(name)

    @classmethod
    def from_directory(cls, directory: Path) -> PromptIndex:
        import numpy as np

        index = cls()
        for path in sorted(directory.rglob("*.wav")):
            try:
                with wave.open(str(path)) as w:
                    if w.getframerate() != 8000 or w.getsampwidth() != 2 or w.getnchannels() != 1:
                        continue
                    data = w.readframes(w.getnframes())
            except (OSError, EOFError, wave.Error):
                continue
            index.add(str(path.relative_to(directory)), np.frombuffer(data, dtype="<i2"))
        return index

    def match(self, payload: bytes) -> set[tuple[int, int]]:
        """The (prompt, frame into its sound) this payload may be, among the first sounding
        frames of every prompt (several prompts share an onset)."""
        found: set[tuple[int, int]] = set()
        if len(payload) != 160:
            return found
        signature = payload.translate(SEGMENT)
        for w in WINDOWS:
            for prompt, offset in self.windows.get((w, signature[w:w + WINDOW]), ()):
                if (prompt, offset) in found:
                    continue
                frame = self.frames[prompt][offset]
                if sum(a != b for a, b in zip(signature, frame, strict=True)) <= 16:
                    found.add((prompt, offset))
        return found


@dataclass
class KeyTiming:
    at: float
    digit: str
    stream_at: float | None = None   # first packet of a new stream after the key
    audio_at: float | None = None    # from there, the first packet with energy
    by_marker: bool = False          # the new stream was told by its RTP marker bit
    content_at: float | None = None  # the first sounding frame of a prompt file arrived
    candidates: set[tuple[int, int]] = field(default_factory=set, repr=False)
    candidates_at: float = 0.0


@dataclass
class CallTrace:
    number: str
    port: int                        # the caller instance's SIP port (its path)
    invite_at: float
    answered_at: float | None = None
    rtp_port: int | None = None      # Asterisk's RTP port of the call (its SDP)
    keys: list[KeyTiming] = field(default_factory=list)


class KeyToPrompt:
    """Follows SIP and RTP packets as the caller receives them (times in seconds)."""

    def __init__(self, prompts: PromptIndex | None = None) -> None:
        self.prompts = prompts
        self.calls: dict[str, CallTrace] = {}
        self.by_rtp_port: dict[int, str] = {}
        self.last_rtp: dict[int, float] = {}
        self.pending: dict[str, KeyTiming] = {}

    def invite(self, call_id: str, number: str, port: int, at: float) -> None:
        if call_id not in self.calls:  # a retransmission keeps the first
            self.calls[call_id] = CallTrace(number, port, at)

    def answered(self, call_id: str, rtp_port: int, at: float) -> None:
        call = self.calls.get(call_id)
        if call is None or call.answered_at is not None:
            return
        call.answered_at, call.rtp_port = at, rtp_port
        self.by_rtp_port[rtp_port] = call_id
        self.last_rtp.pop(rtp_port, None)

    def key(self, call_id: str, digit: str, at: float) -> None:
        call = self.calls.get(call_id)
        if call is None:
            return
        timing = KeyTiming(at, digit)
        call.keys.append(timing)
        self.pending[call_id] = timing

    def rtp(self, src_port: int, marker: bool, payload: bytes, at: float) -> None:
        previous = self.last_rtp.get(src_port)
        self.last_rtp[src_port] = at
        call_id = self.by_rtp_port.get(src_port)
        if call_id is None:
            return
        timing = self.pending.get(call_id)
        if timing is None or at < timing.at:
            return
        if self.prompts is not None and timing.content_at is None:
            # a prompt's start: two frames in a row that are a prompt's first sounding frames
            # in order (one frame alone can be an onset-like moment inside another prompt)
            found = self.prompts.match(payload)
            follows = [o for p, o in timing.candidates if (p, o + 1) in found]
            if follows:
                offset = min(follows)
                timing.content_at = max(timing.at, timing.candidates_at - 0.020 * offset)
            timing.candidates = {(p, o) for p, o in found if o < 3}
            timing.candidates_at = at
        if timing.audio_at is None:
            if timing.stream_at is None and (
                    marker or previous is None or at - previous >= NEW_STREAM_GAP_S):
                timing.stream_at, timing.by_marker = at, marker
            if timing.stream_at is not None and has_energy(payload):
                timing.audio_at = at
        if timing.audio_at is not None and (self.prompts is None or
                                            timing.content_at is not None):
            del self.pending[call_id]

    def ended(self, call_id: str) -> None:
        self.pending.pop(call_id, None)


def key_latency(key: KeyTiming, rule: str = "earliest") -> float | None:
    """Seconds from the key to the next prompt's first sound, None without one within
    PROMPT_WINDOW_S. Two rules find the prompt, and each errs one way: the content rule late
    (a quiet first frame not recognised, a later onset taken for a prompt's start), the stream
    rule early or late (a jitter gap, or no gap at all when the prompt follows within a frame).
    ``earliest`` (the figure printed) takes the first evidence of either; ``content`` prefers
    the content rule; ``stream`` uses the stream rule alone."""
    if rule == "stream":
        arrived = key.audio_at
    elif rule == "content":
        arrived = key.content_at if key.content_at is not None else key.audio_at
    else:
        found = [t for t in (key.content_at, key.audio_at) if t is not None]
        arrived = min(found) if found else None
    if arrived is None or arrived - key.at > PROMPT_WINDOW_S:
        return None
    return arrived - key.at


def measured_latencies(calls: Sequence[CallTrace], rule: str = "earliest"
                       ) -> tuple[list[float], int]:
    """Key-to-prompt in ms of every key followed by MEASURED_GAP_S of the caller's silence,
    and how many such keys had no prompt within PROMPT_WINDOW_S."""
    latencies: list[float] = []
    missing = 0
    for call in calls:
        for n, key in enumerate(call.keys):
            following = call.keys[n + 1].at if n + 1 < len(call.keys) else None
            if following is not None and following - key.at < MEASURED_GAP_S:
                continue
            latency = key_latency(key, rule)
            if latency is None:
                missing += 1
                continue
            latencies.append(latency * 1000)
    return latencies, missing


def latencies_by_path(calls: Sequence[CallTrace], names: dict[int, str]
                      ) -> dict[str, dict[str, float | int | None]]:
    """Key-to-prompt p50 / p99 (ms), keys timed and keys without a prompt, per path (the
    caller instance's SIP port -> path name)."""
    out: dict[str, dict[str, float | int | None]] = {}
    for port, name in names.items():
        latencies, missing = measured_latencies([c for c in calls if c.port == port])
        out[name] = {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
                     "keys": len(latencies), "without_prompt": missing}
    return out


def rtp_range_size(calls: int, agents: int) -> int:
    """RTP ports for ``calls`` concurrent callers and ``agents`` agent legs: 4 per leg
    (Asterisk takes an even RTP port and the odd RTCP one, and a port is not reused at once),
    plus 10 % and 100 of room; even."""
    size = int((calls + agents) * 4 * 1.1) + 100
    return size + size % 2


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (and its waited-for children) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / os.sysconf("SC_CLK_TCK")


# -- the paths --------------------------------------------------------------------------------

def keys(digits: str, last_gap_ms: int, gap_ms: int = 300) -> list[Step]:
    steps: list[Step] = [Dtmf(d, mode="info", gap_ms=gap_ms) for d in digits[:-1]]
    return [*steps, Dtmf(digits[-1], mode="info", gap_ms=last_gap_ms)]


def paths(welcome_ms: int) -> dict[str, tuple[float, list[Step]]]:
    """Path name -> (share of the calls, caller steps). The first key comes 1 s after the
    welcome (which plays to its end), during the main menu."""
    start = Pause(welcome_ms + 1000)
    return {
        "faq": (0.35, [start, *keys("1", 2000), *keys("2", 2000), *keys("1", 5000),
                       *keys("2", 2000), Hangup()]),
        "invoice": (0.25, [start, *keys("2", 2000), *keys("2", 2000),
                           # 12 digits end the code by its length: no # (one after it
                           # is dropped, docs/ivr.md, and has no prompt of its own to time)
                           *keys("144032600111", 2500), *keys("1", 2000),
                           *keys("12345678", 2500), *keys("1", 2000),
                           *keys("1130*00#", 2500), *keys("1", 6000), Hangup()]),
        "agent": (0.20, [start, *keys("0", 20000), Hangup()]),
        "menu_hangup": (0.20, [start, *keys("1", 2500), Hangup()]),
    }


def split_calls(total: int, shares: Sequence[float]) -> list[int]:
    """``total`` concurrent calls split by ``shares`` (largest remainders; every path >= 1
    when total allows)."""
    raw = [total * s / sum(shares) for s in shares]
    counts = [int(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - counts[i], reverse=True):
        if sum(counts) >= total:
            break
        counts[i] += 1
    return counts


# -- packet capture ---------------------------------------------------------------------------

def _bpf(sources: Sequence[int], destinations: Sequence[int]) -> bytes:
    """A classic BPF program for the capture socket: IPv4 UDP, not a fragment, from a port in
    ``sources`` or to a port in ``destinations`` -> keep 1500 bytes; anything else dropped in
    the kernel (the callers' own media towards Asterisk among it)."""
    drop = 9 + len(sources) + len(destinations)     # ret 0
    accept = drop + 1                                # ret 1500
    prog: list[tuple[int, int, int, int]] = [
        (0x28, 0, 0, 12),                  # 0 ldh [12]: ethertype
        (0x15, 0, drop - 2, 0x0800),       # 1 jeq IPv4, else drop
        (0x30, 0, 0, 23),                  # 2 ldb [23]: protocol
        (0x15, 0, drop - 4, 17),           # 3 jeq UDP, else drop
        (0x28, 0, 0, 20),                  # 4 ldh [20]: flags + fragment offset
        (0x45, drop - 6, 0, 0x1FFF),       # 5 jset: a fragment -> drop
        (0xB1, 0, 0, 14),                  # 6 ldxb 4*([14]&0xf): IP header length
        (0x48, 0, 0, 14),                  # 7 ldh [x+14]: source port
    ]
    for port in sources:
        prog.append((0x15, accept - len(prog) - 1, 0, port))
    prog.append((0x48, 0, 0, 16))          # ldh [x+16]: destination port
    for port in destinations:
        prog.append((0x15, accept - len(prog) - 1, 0, port))
    prog += [(0x06, 0, 0, 0), (0x06, 0, 0, 1500)]
    if accept > 255:
        raise ValueError("too many ports for one filter")
    return b"".join(struct.pack("HBBI", *ins) for ins in prog)


def _header(text: str, name: str) -> str:
    for line in text.split("\r\n"):
        if line.lower().startswith(name.lower() + ":"):
            return line.split(":", 1)[1].strip()
    return ""


def capture(ports: dict[str, list[int]], stop: Any, ready: Any, out_path: str) -> None:
    """The capture process: follows the callers' SIP and media ports until ``stop`` is set,
    then writes the traces (JSON) to ``out_path``; ``ready`` is set once it captures."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sip_ports = set(ports["sip"])
    media_ports = set(ports["media"])
    program = _bpf(sorted(sip_ports), sorted(sip_ports | media_ports))
    buffer = ctypes.create_string_buffer(program)
    fprog = struct.pack("HL", len(program) // 8, ctypes.addressof(buffer))
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    sock.setsockopt(socket.SOL_SOCKET, 26, fprog)  # SO_ATTACH_FILTER
    sock.setsockopt(socket.SOL_SOCKET, 33, 64 * 1024 * 1024)  # SO_RCVBUFFORCE
    sock.setsockopt(socket.SOL_SOCKET, 35, 1)  # SO_TIMESTAMPNS
    state = KeyToPrompt(PromptIndex.from_directory(ROOT / "sounds" / "zh"))
    sock.bind(("lo", 0))
    sock.settimeout(0.2)
    ready.set()
    packets = 0
    while not stop.is_set():
        try:
            data, anc, _flags, addr = sock.recvmsg(2048, 64)
        except TimeoutError:
            continue
        if addr[2] == 4:  # PACKET_OUTGOING: each loopback packet is also seen arriving
            continue
        at = time.time()
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == 35:
                sec, nsec = struct.unpack("qq", value[:16])
                at = sec + nsec / 1e9
        packets += 1
        ihl = (data[14] & 0x0F) * 4
        udp = 14 + ihl
        src, dst = struct.unpack("!HH", data[udp:udp + 4])
        payload = data[udp + 8:]
        if dst in media_ports:
            if len(payload) > 12 and payload[0] >> 6 == 2:
                cc = payload[0] & 0x0F
                state.rtp(src, bool(payload[1] & 0x80), payload[12 + 4 * cc:], at)
            continue
        if src not in sip_ports and dst not in sip_ports:
            continue
        text = payload.decode("latin-1")
        first = text.split("\r\n", 1)[0]
        call_id = _header(text, "Call-ID")
        if src in sip_ports and first.startswith("INVITE "):
            pai = _header(text, "P-Asserted-Identity")
            number = pai.split("sip:", 1)[-1].split("@", 1)[0]
            state.invite(call_id, number, src, at)
        elif src in sip_ports and first.startswith("INFO "):
            body = text.split("\r\n\r\n", 1)[-1]
            for line in body.splitlines():
                if line.strip().startswith("Signal="):
                    signal_ = line.split("=", 1)[1].strip()
                    state.key(call_id, {"10": "*", "11": "#"}.get(signal_, signal_), at)
        elif dst in sip_ports and first.startswith("SIP/2.0 200") and \
                "INVITE" in _header(text, "CSeq"):
            for line in text.split("\r\n"):
                if line.startswith("m=audio "):
                    state.answered(call_id, int(line.split()[1]), at)
        elif first.startswith("BYE "):
            state.ended(call_id)
    stats = sock.getsockopt(263, 6, 8)  # SOL_PACKET, PACKET_STATISTICS
    seen, drops = struct.unpack("II", stats)
    sock.close()
    Path(out_path).write_text(json.dumps({
        "packets": packets, "kernel_packets": seen, "kernel_drops": drops,
        "calls": {cid: {"number": c.number, "port": c.port, "invite_at": c.invite_at,
                        "answered_at": c.answered_at,
                        "keys": [[k.at, k.digit, k.stream_at, k.audio_at, k.by_marker,
                                  k.content_at] for k in c.keys]}
                  for cid, c in state.calls.items()}}))


def load_traces(path: Path) -> tuple[list[CallTrace], dict[str, int]]:
    data = json.loads(path.read_text())
    calls = [CallTrace(c["number"], c["port"], c["invite_at"], c["answered_at"], None,
                       [KeyTiming(*k) for k in c["keys"]])
             for c in data["calls"].values()]
    return calls, {k: data[k] for k in ("packets", "kernel_packets", "kernel_drops")}


# -- the deployment ---------------------------------------------------------------------------

def prompt_ms(name: str) -> int:
    with wave.open(str(ROOT / "sounds" / "zh" / f"{name}.wav")) as w:
        return int(w.getnframes() * 1000 / w.getframerate())


@dataclass
class Started:
    """What this run started, stopped in reverse order, by PID."""

    procs: list[tuple[str, subprocess.Popen[Any]]] = field(default_factory=list)

    def add(self, name: str, proc: subprocess.Popen[Any]) -> subprocess.Popen[Any]:
        self.procs.append((name, proc))
        return proc

    def stop_all(self) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def database(kind: str, directory: Path) -> Iterator[str]:
    import sqlalchemy as sa

    from callcenter.migrate import upgrade

    if kind == "sqlite":
        url = f"sqlite:///{directory / 'load.db'}"
        upgrade(url)
        yield url
        return
    admin = os.environ.get("HOTLINE_BENCH_PG_ADMIN_URL",
                           "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    name = f"hotline_load_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = admin.rsplit("/", 1)[0] + f"/{name}"
        upgrade(url)
        yield url
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def seed(url: str, agents: list[str]) -> None:
    from callcenter.auth.models import Role
    from callcenter.auth.services import UserService
    from callcenter.db import Database
    from callcenter.queues.services import QueueService
    from callcenter.selfservice.services import seed_demo
    from ivr.calendar import ServiceCalendar
    from ivr.clock import RunningClock

    db = Database(url)
    clock = RunningClock(OPEN_TIME)
    seed_demo(db, ServiceCalendar.load(), clock)
    users, queues = UserService(db, clock), QueueService(db, clock)
    for name in agents:
        users.create_user(f"load-{name}", PASSWORD, Role.AGENT, actor="load_bench",
                          interface=f"PJSIP/{name}")
        queues.set_agent_skills(f"load-{name}", {"general": 0}, actor="load_bench")
    db.dispose()


def contacts_of(url: str) -> list[tuple[str, bool]]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT caller_number, ended_at IS NOT NULL AND outcome IS NOT NULL FROM contacts"))
        found = [(str(r[0]), bool(r[1])) for r in rows]
    engine.dispose()
    return found


def wait_until(what: str, check: Any, timeout: float, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise RuntimeError(f"load_bench: {what} not within {timeout:.0f} s")
        time.sleep(every)


def sipp_control(port: int, command: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(command.encode(), ("127.0.0.1", port))


def port_base() -> int:
    """The first of the benchmark's 5000 ports (``HOTLINE_BENCH_PORT_BASE``)."""
    return int(os.environ.get("HOTLINE_BENCH_PORT_BASE", "25000"))


def agent_count(args: argparse.Namespace) -> int:
    """The agents logged in: ``--agents``, or one per 10 calls (at least 4)."""
    return int(args.agents) or max(4, args.calls // 10)


def bench_ports(base: int, rtp: int) -> tuple[PbxPorts, int]:
    """The sandbox's ports from ``base`` with ``rtp`` media ports, and the API's port."""
    from ivr.pbx.sandbox import PbxPorts

    return PbxPorts(ami=base + 38, sip=base + 60, rtp_start=base + 1000,
                    rtp_end=base + 1000 + rtp - 1), base + 390


def ports_in_use(ports: PbxPorts, api_port: int) -> list[str]:
    """The benchmark's ports (AMI and API over TCP; SIP, callers, agents and media over UDP)
    that something holds already, named. Two benchmarks on one port base, or one beside the
    suite's workers (15000 on, 1000 a worker), share an Asterisk's ports: the figures of such
    a run are nonsense (43 "lost" and 43 "duplicates" in one)."""
    from ivr.processes import udp_ports_bound

    taken = []
    for name, port in (("AMI", ports.ami), ("API", api_port)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                taken.append(f"{name} {port}/tcp")
    bound = udp_ports_bound() or set()
    # the sandbox's SIP port, the callers' (sip + 10..) and the agents' phones (sip + 20..)
    taken += [f"SIP {port}/udp" for port in range(ports.sip, ports.sip + 40) if port in bound]
    held = sorted(bound.intersection(range(ports.rtp_start, ports.rtp_end + 1)))
    if held:
        taken.append(f"{len(held)} RTP port(s) from {held[0]}/udp")
    return taken


@contextlib.contextmanager
def port_base_lock(base: int) -> Iterator[None]:
    """Hold the port base for this run: a second benchmark on it exits at once (the ports
    alone would show it only once the first one's Asterisk has bound them)."""
    import fcntl

    path = Path(tempfile.gettempdir()) / f"hotline-load-bench-{base}.lock"
    with path.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit(f"load_bench: another load_bench runs on port base {base}; "
                             "set HOTLINE_BENCH_PORT_BASE to another block") from None
        yield


def run(args: argparse.Namespace) -> dict[str, Any]:
    import httpx
    import redis

    from ivr.pbx.sandbox import AgentPool, AsteriskSandbox

    base = port_base()
    n = args.calls
    agents = agent_count(args)
    rtp = rtp_range_size(n, agents)
    if rtp > 3800:
        raise SystemExit(f"load_bench: {n} calls need {rtp} RTP ports, more than the 3,800 "
                         "of a port base's block")
    ports, api_port = bench_ports(base, rtp)
    pool = AgentPool(count=agents, port=ports.sip + 20)
    prefix = f"hotline-load-{uuid.uuid4().hex[:10]}"
    redis_url = os.environ.get("HOTLINE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    sandbox = AsteriskSandbox(ROOT / "var" / f"pbx-load-{base}", ROOT / "sounds" / "zh",
                              ROOT / "var" / f"recordings-load-{base}", ports=ports,
                              agent_pool=pool, boot_timeout=120.0)
    routes = paths(prompt_ms("welcome"))
    limits = split_calls(n, [share for share, _steps in routes.values()])
    started = Started()
    figures: dict[str, Any] = {"db": args.db, "calls": n, "duration_s": args.duration,
                               "media_interval_ms": args.media_interval_ms,
                               "agents": agents, "rtp_ports": rtp,
                               "paths": dict(zip(routes, limits, strict=True))}
    stop_capture = multiprocessing.get_context("fork").Event()
    capture_ready = multiprocessing.get_context("fork").Event()
    capture_proc: multiprocessing.process.BaseProcess | None = None
    with tempfile.TemporaryDirectory(prefix="load-bench-") as tmp_name, \
            database(args.db, Path(tmp_name)) as url:
        tmp = Path(tmp_name)
        try:
            seed(url, pool.names())
            sandbox.start()
            env = {**os.environ, "HOTLINE_DATABASE_URL": url, "HOTLINE_REDIS_URL": redis_url,
                   "HOTLINE_REDIS_PREFIX": prefix, "HOTLINE_NODE": "pbx1",
                   "HOTLINE_AMI_PORT": str(ports.ami), "HOTLINE_PBX_SIP_PORT": str(ports.sip),
                   "HOTLINE_PBX_RTP_START": str(ports.rtp_start),
                   "HOTLINE_PBX_RTP_END": str(ports.rtp_end),
                   "HOTLINE_PBX_STATE_DIR": str(sandbox.state_dir),
                   "HOTLINE_RECORDINGS_DIR": str(sandbox.recordings_dir),
                   "HOTLINE_CLOCK_START": OPEN_TIME.isoformat(),
                   "HOTLINE_SMS_SURVEY_ENABLED": "false", "HOTLINE_WRAPUP_SECONDS": "1",
                   "HOTLINE_SPOOL_DIR": str(tmp / "spool"),
                   "HOTLINE_BRIDGE_COMMAND_TIMEOUT_S": "15"}
            hotline = str(Path(sys.executable).with_name("hotline"))
            with (tmp / "serve.log").open("wb") as log:
                serve = started.add("serve", subprocess.Popen(
                    [hotline, "serve", "--port", str(api_port), "--no-migrate"],
                    env={**env, "HOTLINE_KB_ENABLED": "false"}, stdout=log,
                    stderr=subprocess.STDOUT))
            with (tmp / "bridge.log").open("wb") as log:
                bridge = started.add("bridge", subprocess.Popen(
                    [hotline, "bridge", "--node", "pbx1"], env=env, stdout=log,
                    stderr=subprocess.STDOUT))
            api = f"http://127.0.0.1:{api_port}"

            def bridge_ready() -> bool:
                if bridge.poll() is not None or serve.poll() is not None:
                    raise RuntimeError("load_bench: bridge or API exited:\n" + tails(tmp))
                try:
                    health = httpx.get(f"{api}/api/v1/health", timeout=5).json()
                except (httpx.HTTPError, ValueError):
                    return False
                node = health.get("checks", {}).get("bridges", {}).get("nodes", {}).get("pbx1")
                return bool(node and node.get("ami_ready"))

            wait_until("the bridge and the API", bridge_ready, 180)
            # the FAQ answers' audio is rendered once (then cached on disk) in the background:
            # not during the measurement
            wait_until("the answer audio", lambda: "answer audio:" in (
                tmp / "bridge.log").read_text(errors="replace"), 900, every=1.0)
            with httpx.Client(base_url=api, timeout=60) as http:
                for name in pool.names():
                    login = http.post("/api/v1/auth/login", json={
                        "username": f"load-{name}", "password": PASSWORD})
                    login.raise_for_status()
                    token = login.json()["access_token"]
                    ready = http.post("/api/v1/agents/me/state", json={"state": "ready"},
                                      headers={"Authorization": f"Bearer {token}"})
                    if ready.status_code != 200:
                        raise RuntimeError(f"load_bench: {name} not ready: {ready.text}")
            runner = SippRunner(sandbox.root, ports.sip)
            agent_xml = runner._write(agent_scenario(ring_ms=500, talk_ms=3000), "load-agent")
            started.add("agents", subprocess.Popen(
                runner._command(agent_xml, pool.port, []), stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL))
            caller_ports = [ports.sip + 10 + i for i in range(len(routes))]
            # the callers' media: a packet of silence every --media-interval-ms (a phone: 20)
            media = f"/opt/hotline/sipp/load-media-{args.media_interval_ms}.pcap"
            (sandbox.root / media.lstrip("/")).write_bytes(keepalive_pcap(
                180_000 // args.media_interval_ms, interval_ms=args.media_interval_ms))
            trace_file = tmp / "capture.json"
            capture_proc = multiprocessing.get_context("fork").Process(
                target=capture, args=({"sip": caller_ports,
                                       "media": [SippRunner.media_port(p)
                                                 for p in caller_ports]},
                                      stop_capture, capture_ready, str(trace_file)),
                daemon=True)
            capture_proc.start()
            if not capture_ready.wait(120):
                raise RuntimeError("load_bench: the packet capture did not start")
            bridge_pid, asterisk_pid = bridge.pid, sandbox.pid()
            assert asterisk_pid is not None
            cpu0 = (cpu_seconds(bridge_pid), cpu_seconds(asterisk_pid),
                    cpu_seconds(serve.pid))
            load0 = os.getloadavg()
            wall0 = time.monotonic()
            callers: list[subprocess.Popen[Any]] = []
            for i, ((name, (_share, steps)), limit) in enumerate(
                    zip(routes.items(), limits, strict=True)):
                if limit == 0:
                    continue
                xml = caller_scenario(steps, "19999999999").replace(
                    "sip:19999999999@", f"sip:13{i}0[call_number]@").replace(
                    KEEPALIVE_PCAP, media)
                scenario = runner._write(xml, f"load-{name}")
                rate = max(1, math.ceil(args.rate * limit / n))
                callers.append(started.add(f"callers-{name}", subprocess.Popen(
                    runner._command(scenario, caller_ports[i], [
                        "-s", "12366", "-l", str(limit), "-r", str(rate), "-rp", "1000",
                        "-timeout_error", "-recv_timeout", "180000"]),
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
            loads = [os.getloadavg()[0]]
            while time.monotonic() - wall0 < args.duration:
                time.sleep(min(10.0, args.duration - (time.monotonic() - wall0)))
                loads.append(os.getloadavg()[0])
                if any(p.poll() is not None for p in callers):
                    figures["note"] = "a SIPp caller instance exited early"
                    break
            for i in range(len(routes)):
                sipp_control(caller_ports[i] + 600, "q")
            held = time.monotonic() - wall0
            for proc in callers:
                try:
                    proc.wait(240)
                except subprocess.TimeoutExpired:
                    proc.terminate()
            wall = time.monotonic() - wall0
            figures["sipp_exit_codes"] = [p.returncode for p in callers]
            cpu1 = (cpu_seconds(bridge_pid), cpu_seconds(asterisk_pid),
                    cpu_seconds(serve.pid))
            figures["loadavg_1m_max"] = max(loads)
            figures["loadavg_at_start"] = round(load0[0], 2)
            figures["loadavg_at_end"] = round(os.getloadavg()[0], 2)
            time.sleep(2.0)
            stop_capture.set()
            capture_proc.join(60)
            traces, capture_stats = load_traces(trace_file)
            figures.update({f"capture_{k}": v for k, v in capture_stats.items()})

            # leaks: Asterisk's channels and the bridge's sessions once every call ended
            client = redis.Redis.from_url(redis_url)

            def quiet() -> tuple[int, int] | None:
                count = sandbox.cli("core show channels count")
                channels = int(count.split("active channel")[0].split()[-1]) \
                    if "active channel" in count else -1
                raw = client.get(f"{prefix}:bridge:pbx1:status")
                sessions = int(json.loads(raw)["active_calls"]) if raw else -1
                return (channels, sessions) if channels == 0 and sessions == 0 else None

            with contextlib.suppress(RuntimeError):
                wait_until("no channel and no session left", quiet, 30, every=2.0)
            time.sleep(6.0)  # the bridge's status is refreshed every 5 s
            count = sandbox.cli("core show channels count")
            channels = int(count.split("active channel")[0].split()[-1]) \
                if "active channel" in count else -1
            raw = client.get(f"{prefix}:bridge:pbx1:status")
            status = json.loads(raw) if raw else {}
            client.close()
            sessions = int(status.get("active_calls", -1))
            figures["asterisk_channels_left"] = channels
            figures["bridge_sessions_left"] = sessions
            figures["leaked_sessions"] = max(0, channels) + max(0, sessions)
            figures["spool_depth"] = status.get("spool_depth")

            placed = [c.number for c in traces]

            def logged() -> list[tuple[str, bool]] | None:
                found = contacts_of(url)
                return found if len(found) >= len(placed) and all(c for _n, c in found) \
                    else None

            try:
                contacts = wait_until("every contact complete", logged, 60, every=2.0)
            except RuntimeError:
                contacts = contacts_of(url)
            counted = count_contacts(placed, contacts)
            latencies, without = measured_latencies(traces)
            calls = max(1, len(placed))
            by_path = latencies_by_path(traces, dict(zip(caller_ports, routes, strict=True)))
            figures["key_to_prompt_ms_by_path"] = {
                name: {k: round(v, 1) if isinstance(v, float) else v for k, v in f.items()}
                for name, f in by_path.items()}
            for rule in ("content", "stream"):
                other, _missing = measured_latencies(traces, rule)
                figures[f"key_to_prompt_ms_p50_{rule}_rule"] = percentile(other, 50)
                figures[f"key_to_prompt_ms_p99_{rule}_rule"] = percentile(other, 99)
            figures.update({
                "calls_placed": len(placed),
                "calls_answered": sum(1 for c in traces if c.answered_at is not None),
                "contacts_logged": len(contacts), **counted,
                "keys_measured": len(latencies), "keys_without_prompt": without,
                "keys_by_content": sum(1 for c in traces for k in c.keys
                                       if k.content_at is not None),
                "key_to_prompt_ms_p50": percentile(latencies, 50),
                "key_to_prompt_ms_p99": percentile(latencies, 99),
                "key_to_prompt_ms_max": max(latencies, default=None),
                "bridge_cpu_s_per_call": (cpu1[0] - cpu0[0]) / calls,
                "asterisk_cpu_s_per_call": (cpu1[1] - cpu0[1]) / calls,
                "api_cpu_s_per_call": (cpu1[2] - cpu0[2]) / calls,
                "held_s": round(held, 1), "wall_s": round(wall, 1),
            })
            figures["bridge_to_asterisk_cpu"] = (
                figures["bridge_cpu_s_per_call"] / figures["asterisk_cpu_s_per_call"]
                if figures["asterisk_cpu_s_per_call"] else None)
            if args.keep_logs:
                for name in ("serve.log", "bridge.log", "capture.json"):
                    if (tmp / name).exists():
                        (Path(args.keep_logs) / name).write_bytes((tmp / name).read_bytes())
            return figures
        finally:
            stop_capture.set()
            if capture_proc is not None and capture_proc.is_alive():
                capture_proc.join(10)
                if capture_proc.is_alive():
                    capture_proc.terminate()
            started.stop_all()
            sandbox.stop()
            with contextlib.suppress(Exception):
                client = redis.Redis.from_url(redis_url)
                keys_left = list(client.scan_iter(match=f"{prefix}:*"))
                if keys_left:
                    client.delete(*keys_left)
                client.close()


def tails(directory: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
                     for p in sorted(directory.glob("*.log")))


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=50, help="concurrent calls to hold")
    parser.add_argument("--duration", type=float, default=60.0,
                        help="seconds to hold them (then the calls under way finish)")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rate", type=int, default=20, help="new calls per second, at most")
    parser.add_argument("--agents", type=int, default=0, help="default max(4, calls // 10)")
    parser.add_argument("--media-interval-ms", type=int, default=20,
                        help="a caller sends a packet of silence this often (a phone: 20)")
    parser.add_argument("--keep-logs", default="", help="copy the logs into this directory")
    args = parser.parse_args(argv)
    if args.calls < 1 or args.duration <= 0 or not 10 <= args.media_interval_ms <= 1000:
        parser.error("--calls must be at least 1, --duration positive and "
                     "--media-interval-ms within 10..1000")
    from ivr.pbx.sandbox import host_support

    reason = host_support()
    if reason:
        print(f"load_bench: skipped: {reason}", file=sys.stderr)
        return 0
    base = port_base()
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with port_base_lock(base):
            taken = ports_in_use(*bench_ports(base, rtp_range_size(args.calls,
                                                                   agent_count(args))))
            if taken:
                print(f"load_bench: ports in use ({', '.join(taken)}): another benchmark or "
                      "a test run holds them; set HOTLINE_BENCH_PORT_BASE to a free block",
                      file=sys.stderr)
                return 2
            figures = run(args)
    except KeyboardInterrupt:
        print("load_bench: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    print(result_line(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
