"""A SIPp phone starts only on a free port, and is handed back once it listens there
(ivr/pbx/sipp.py ``spawn``): a phone that could not bind would let every INVITE to it go
unanswered, so a held port, or a SIPp that exits at start, is an error that says so. The
commands here stand in for SIPp: plain Python processes that bind, or do not."""

from __future__ import annotations

import socket
import sys

import pytest

from ivr.pbx.sipp import SippRunner, spawn
from ivr.processes import udp_port_free


@pytest.fixture
def free_port() -> int:
    """A UDP port on loopback that nothing holds (the system picks it, then lets it go)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def binds(port: int, then: str = "import time; time.sleep(30)") -> list[str]:
    return [sys.executable, "-c",
            "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            f"s.bind(('127.0.0.1', {port})); {then}"]


def test_a_phone_is_handed_back_listening_on_its_port(free_port: int) -> None:
    proc = spawn(binds(free_port), free_port)
    try:
        assert proc.poll() is None
        assert not udp_port_free(free_port)
    finally:
        SippRunner.stop(proc)
    assert udp_port_free(free_port)


def test_a_port_held_already_is_named_and_nothing_is_started(free_port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stale:
        stale.bind(("127.0.0.1", free_port))
        with pytest.raises(RuntimeError, match=f"UDP port {free_port} .* held already"):
            spawn(binds(free_port, then="print('started')"), free_port)


def test_a_phone_that_exits_at_start_is_reported_with_what_it_printed(free_port: int) -> None:
    cmd = [sys.executable, "-c", "import sys; print('Unable to bind'); sys.exit(255)"]
    with pytest.raises(RuntimeError, match=f"port {free_port} did not start .*255.*Unable to bind"):
        spawn(cmd, free_port)
    assert udp_port_free(free_port)


def test_a_phone_whose_call_is_ending_exits_by_itself_and_is_not_cut_off(
        free_port: int) -> None:
    """The stand-in answers "the BYE" and exits 0.3 s after it is switched off; a terminate
    at once (as before) would have cut it off (exit -15) with the BYE unanswered."""
    proc = spawn(binds(free_port, then="import time; time.sleep(0.3); print('call over')"),
                 free_port)
    result = SippRunner.stop(proc)
    assert (result.returncode, result.stdout.split()) == (0, ["call", "over"])


def test_a_phone_that_does_not_end_is_terminated_after_the_settle_time(
        free_port: int) -> None:
    proc = spawn(binds(free_port), free_port)
    result = SippRunner.stop(proc, settle=0.2)
    assert result.returncode == -15
