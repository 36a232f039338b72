"""The pure parts of benchmarks/load_bench.py: the JSON line, the percentile, lost and duplicate
contacts, the key-to-prompt timing from packets, the RTP range and the capture filter. No
wall-clock assertion: the times below are made-up packet timestamps."""

from __future__ import annotations

import importlib.util
import json
import struct
import sys
from types import ModuleType

import pytest

from callcenter.settings import PROJECT_ROOT


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "load_bench", PROJECT_ROOT / "benchmarks" / "load_bench.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("load_bench", module)
    spec.loader.exec_module(module)
    return module


lb = _load()
SILENCE = b"\xff" * 160
SPEECH = bytes([0x10]) * 160  # a loud µ-law sample


def test_percentile_is_nearest_rank_and_none_without_values() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert lb.percentile(values, 50) == 50.0
    assert lb.percentile(values, 99) == 99.0
    assert lb.percentile(values, 100) == 100.0
    assert lb.percentile([7.0], 99) == 7.0
    assert lb.percentile([3.0, 1.0, 2.0], 50) == 2.0  # unsorted input
    assert lb.percentile([], 50) is None


def test_lost_and_duplicates_are_counted_per_call() -> None:
    placed = ["1", "2", "3", "4", "5"]
    contacts = [("1", True),                  # one complete contact: fine
                ("2", True), ("2", True),     # two: lost and one duplicate
                ("3", False),                 # one, not complete: lost
                # 4: none at all: lost
                ("5", True),
                ("99", True)]                 # a number nobody called
    counted = lb.count_contacts(placed, contacts)
    assert counted == {"lost": 3, "duplicates": 1, "contacts_unmatched": 1,
                       "contacts_incomplete": 1}
    assert lb.count_contacts(placed, [(n, True) for n in placed])["lost"] == 0


def test_the_json_line_has_the_required_keys_first_and_refuses_a_missing_one() -> None:
    figures: dict[str, object] = {key: 0 for key in lb.KEYS}
    figures.update({"db": "sqlite", "key_to_prompt_ms_p50": 12.345678, "zeta": 1, "alpha": 2})
    line = lb.result_line(figures)
    assert "\n" not in line
    parsed = json.loads(line)
    assert list(parsed)[:len(lb.KEYS)] == list(lb.KEYS)
    assert list(parsed)[len(lb.KEYS):] == ["alpha", "zeta"]
    assert parsed["key_to_prompt_ms_p50"] == 12.3457
    del figures["leaked_sessions"]
    with pytest.raises(KeyError, match="leaked_sessions"):
        lb.result_line(figures)


def test_energy_of_a_mulaw_payload() -> None:
    assert not lb.has_energy(SILENCE)
    assert not lb.has_energy(b"\x7f" * 160)   # the other zero of µ-law
    assert lb.has_energy(SPEECH)
    assert not lb.has_energy(b"")


def _call(state: object) -> None:
    state.invite("c1", "13101", 5070, 0.0)  # type: ignore[attr-defined]
    state.answered("c1", 10000, 0.1)  # type: ignore[attr-defined]


def test_key_to_prompt_runs_from_the_key_to_the_next_prompts_first_sound() -> None:
    state = lb.KeyToPrompt()
    _call(state)
    t = 1.0
    for _ in range(5):  # the menu prompt plays: a packet every 20 ms
        state.rtp(10000, False, SPEECH, t)
        t += 0.020
    state.key("c1", "1", t)                       # key at t
    state.rtp(10000, False, SPEECH, t + 0.005)    # the old prompt's last packet
    # the next prompt: 35 ms later (a new stream), two frames of leading silence first
    state.rtp(10000, False, SILENCE, t + 0.040)
    state.rtp(10000, False, SILENCE, t + 0.060)
    state.rtp(10000, False, SPEECH, t + 0.080)
    state.rtp(10000, False, SPEECH, t + 0.100)
    key = state.calls["c1"].keys[0]
    assert key.stream_at == pytest.approx(t + 0.040)
    assert key.audio_at == pytest.approx(t + 0.080)
    latencies, missing = lb.measured_latencies(list(state.calls.values()))
    assert latencies == [pytest.approx(80.0)]
    assert missing == 0


def test_a_key_whose_prompt_never_comes_or_that_is_followed_at_once_is_not_timed() -> None:
    state = lb.KeyToPrompt()
    _call(state)
    state.key("c1", "1", 1.0)
    state.key("c1", "2", 1.3)       # an entry's digits: the first is not measured
    state.rtp(10000, True, SPEECH, 2.0)  # marker bit: the prompt after "2"
    state.rtp(10000, False, SPEECH, 4.99)
    state.key("c1", "3", 5.0)       # after 3: nothing more comes
    state.rtp(10000, False, SPEECH, 5.01)  # the same prompt goes on: no new stream
    latencies, missing = lb.measured_latencies(list(state.calls.values()))
    assert latencies == [pytest.approx(700.0)]
    assert missing == 1
    # a packet of another call's stream never counts for this one
    assert lb.KeyToPrompt().calls == {}


def test_paths_and_shares() -> None:
    assert lb.split_calls(10, [0.35, 0.25, 0.2, 0.2]) == [4, 2, 2, 2]
    assert sum(lb.split_calls(300, [0.35, 0.25, 0.2, 0.2])) == 300
    assert lb.split_calls(300, [0.35, 0.25, 0.2, 0.2]) == [105, 75, 60, 60]
    routes = lb.paths(5470)
    assert set(routes) == {"faq", "invoice", "agent", "menu_hangup"}
    assert sum(share for share, _steps in routes.values()) == pytest.approx(1.0)


def test_the_rtp_range_holds_four_ports_per_leg() -> None:
    size = lb.rtp_range_size(300, 30)
    assert size >= 4 * (300 + 30)
    assert size % 2 == 0


def test_the_capture_filter_is_well_formed() -> None:
    program = lb._bpf([5070, 5071], [5070, 5071, 5470])
    assert len(program) % 8 == 0
    instructions = [struct.unpack("HBBI", program[i:i + 8])
                    for i in range(0, len(program), 8)]
    n = len(instructions)
    assert instructions[-2:] == [(0x06, 0, 0, 0), (0x06, 0, 0, 1500)]
    for index, (code, jt, jf, _k) in enumerate(instructions):
        if code == 0x06:
            continue
        # every jump lands inside the program
        assert index + 1 + jt < n
        assert index + 1 + jf < n
        if code == 0x15 and _k in (5070, 5071, 5470):
            assert index + 1 + jt == n - 1  # a port that matches: accept
    # the source ports are tested after the source port is loaded, the destinations after
    # the destination port
    loads = [i for i, ins in enumerate(instructions) if ins[0] == 0x48]
    assert [instructions[i][3] for i in loads] == [14, 16]
    assert [k for _c, _t, _f, k in instructions[loads[0] + 1:loads[1]]] == [5070, 5071]
    assert [k for _c, _t, _f, k in instructions[loads[1] + 1:-2]] == [5070, 5071, 5470]


def _tone(seconds: float, hz: float, lead_ms: int = 40) -> object:
    import numpy as np

    t = np.arange(int(8000 * seconds)) / 8000
    samples = (8000 * np.sin(2 * np.pi * hz * t) * np.minimum(1.0, t * 20)).astype(np.int16)
    samples[: lead_ms * 8] = 0
    return samples


def test_a_prompt_is_recognised_by_its_first_sounding_frames_in_the_rtp() -> None:
    index = lb.PromptIndex()
    menu, answer = _tone(1.0, 440.0), _tone(1.0, 697.0)
    index.add("menu", menu)
    index.add("answer", answer)
    assert index.first == [2, 2]  # 40 ms of leading silence
    payload = lb.mulaw_encode(answer)
    frames = [payload[i:i + 160] for i in range(0, len(payload), 160)]
    # Asterisk's encoder rounds a few samples differently: still recognised
    nudged = bytes((b ^ 1) if i % 20 == 0 else b for i, b in enumerate(frames[2]))
    assert (1, 0) in index.match(nudged)
    assert index.match(frames[0]) == set()           # silence is nobody's start
    assert (1, 0) not in index.match(frames[20])     # the middle of the answer

    state = lb.KeyToPrompt(index)
    _call(state)
    menu_frames = lb.mulaw_encode(menu)
    t = 1.0
    for i in range(10, 20):  # the menu plays, well into its sound
        state.rtp(10000, False, menu_frames[i * 160:(i + 1) * 160], t)
        t += 0.020
    state.key("c1", "1", t)
    for n, frame in enumerate(frames[:6]):  # the answer starts 25 ms later, silence first
        state.rtp(10000, False, frame, t + 0.025 + 0.020 * n)
    key = state.calls["c1"].keys[0]
    assert key.content_at == pytest.approx(t + 0.025 + 0.040)   # its first sounding frame
    assert lb.key_latency(key) == pytest.approx(0.065)
    assert lb.key_latency(key, "stream") == pytest.approx(0.065)  # a 45 ms gap: both agree
    late = lb.KeyTiming(1.0, "1", stream_at=1.05, audio_at=1.09, content_at=1.5)
    assert lb.key_latency(late) == pytest.approx(0.09)
    assert lb.key_latency(late, "content") == pytest.approx(0.5)
    assert lb.key_latency(lb.KeyTiming(1.0, "1", content_at=12.0)) is None  # beyond 10 s
    assert "c1" not in state.pending


def test_ports_already_held_are_named_and_a_second_run_on_the_base_is_refused() -> None:
    import socket

    bench = _load()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtp, \
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as ami:
        rtp.bind(("127.0.0.1", 0))  # an ephemeral port: base + 38 stays below 65536
        base = rtp.getsockname()[1] - 1003
        ami.bind(("127.0.0.1", base + 38))
        taken = bench.ports_in_use(*bench.bench_ports(base, 10))
    assert f"AMI {base + 38}/tcp" in taken
    assert f"1 RTP port(s) from {base + 1003}/udp" in taken
    assert bench.ports_in_use(*bench.bench_ports(base, 10)) == []  # released: free again
    with bench.port_base_lock(base), pytest.raises(SystemExit, match="another load_bench"), \
            bench.port_base_lock(base):
        pass
