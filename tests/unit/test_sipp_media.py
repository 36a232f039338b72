"""SIPp callers send media like a phone (ivr/pbx/sipp.py): the keep-alive capture plays from the
answer, is restarted after each RFC 2833 digit, and stops when the caller vanishes."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from ivr.pbx.sipp import (
    KEEPALIVE_INTERVAL_MS,
    KEEPALIVE_PCAP,
    STOP_MEDIA_PCAP,
    Dtmf,
    Hangup,
    Pause,
    SippRunner,
    Vanish,
    caller_scenario,
    keepalive_pcap,
)


def plays(xml: str) -> list[str]:
    return [line.split('"')[1] for line in xml.splitlines() if "play_pcap_audio" in line]


def test_a_caller_sends_media_from_the_answer_and_after_every_rfc2833_digit() -> None:
    xml = caller_scenario([Pause(1000), Dtmf("12"), Dtmf("3", mode="info"), Hangup()])
    assert plays(xml) == [KEEPALIVE_PCAP,
                          "/usr/share/sip-tester/dtmf_2833_1.pcap", KEEPALIVE_PCAP,
                          "/usr/share/sip-tester/dtmf_2833_2.pcap", KEEPALIVE_PCAP]
    # the media starts once the call is answered (after the ACK)
    assert xml.index(KEEPALIVE_PCAP) > xml.index("CSeq: 1 ACK")


def test_a_silent_scenario_sends_no_media_when_asked() -> None:
    assert plays(caller_scenario([Pause(1000), Dtmf("1")], media=False)) == [
        "/usr/share/sip-tester/dtmf_2833_1.pcap"]


def test_a_vanishing_caller_stops_its_media_and_never_sends_bye() -> None:
    xml = caller_scenario([Pause(5000), Vanish()])
    assert plays(xml) == [KEEPALIVE_PCAP, STOP_MEDIA_PCAP]
    assert "BYE [next_url]" not in xml          # it sends no BYE ...
    assert '<recv request="BYE"' in xml         # ... and waits for Asterisk's
    with pytest.raises(ValueError, match="no step may follow"):
        caller_scenario([Vanish(), Pause(100)])


def test_the_keepalive_capture_is_rtp_silence_at_the_interval() -> None:
    data = keepalive_pcap(3)
    magic, _major, _minor, _zone, _sig, _snap, linktype = struct.unpack("<IHHiIII", data[:24])
    assert (magic, linktype) == (0xA1B2C3D4, 1)
    offset, times, payloads = 24, [], []
    while offset < len(data):
        sec, usec, length, _orig = struct.unpack("<IIII", data[offset:offset + 16])
        frame = data[offset + 16:offset + 16 + length]
        times.append(sec * 1000 + usec // 1000)
        rtp = frame[14 + 20 + 8:]
        assert rtp[0] == 0x80
        assert rtp[1] == 0
        payloads.append(rtp[12:])
        offset += 16 + length
    assert times == [0, KEEPALIVE_INTERVAL_MS, 2 * KEEPALIVE_INTERVAL_MS]
    assert all(p == b"\xff" * 160 for p in payloads)  # mu-law silence


def test_the_runner_writes_the_captures_into_the_root(tmp_path: Path) -> None:
    runner = SippRunner(tmp_path, 5060)
    runner._write(caller_scenario([]), "caller")
    keepalive = tmp_path / KEEPALIVE_PCAP.lstrip("/")
    assert keepalive.stat().st_size > 100_000
    assert (tmp_path / STOP_MEDIA_PCAP.lstrip("/")).read_bytes() == keepalive_pcap(1)
