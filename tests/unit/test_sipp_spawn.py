"""A SIPp phone starts only on a free port, and is handed back once it listens there
(ivr/pbx/sipp.py ``spawn``): a phone that could not bind would let every INVITE to it go
unanswered, so a held port, or a SIPp that exits at start, is an error that says so. The
commands here stand in for SIPp: plain Python processes that bind, or do not."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ivr.pbx.sipp import SippRunner, phones_running, spawn
from ivr.processes import udp_port_free, udp_ports_bound


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


def test_watching_a_port_never_holds_it(free_port: int) -> None:
    """``spawn`` watches the phone's port until it listens; the watch must not bind the port
    itself, or a phone binding at that moment fails ("Address already in use"): it did, once,
    in a full run, a phone started beside a watch of its own port."""
    watcher = subprocess.Popen([sys.executable, "-c",
                                "from ivr.processes import udp_port_free, udp_ports_bound\n"
                                "while True:\n"
                                f"    udp_port_free({free_port})\n"])
    try:
        time.sleep(0.5)  # the watcher is looping
        refused = 0
        for _ in range(3000):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone:
                try:
                    phone.bind(("127.0.0.1", free_port))
                except OSError:
                    refused += 1
        assert watcher.poll() is None
    finally:
        watcher.kill()
        watcher.wait()
    assert refused == 0


def test_the_kernels_table_names_the_ports_bound(tmp_path: Path) -> None:
    udp = tmp_path / "udp"
    udp.write_text(
        "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"
        "   12: 0100007F:5265 00000000:0000 07 00000000:00000000 00:00000000 00000000     0\n"
        "  300: 00000000:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0\n")
    udp6 = tmp_path / "udp6"
    udp6.write_text(
        "  sl  local_address                         remote_address                        st\n"
        "   5: 00000000000000000000000001000000:0BBA 00000000000000000000000000000000:0000 07\n")
    assert udp_ports_bound((udp, udp6)) == {0x5265, 0x14E9, 0x0BBA}
    assert udp_ports_bound((tmp_path / "none",)) is None


def test_the_phones_still_running_are_known_until_they_exit(free_port: int) -> None:
    proc = spawn(binds(free_port), free_port)
    assert proc in phones_running()
    SippRunner.stop(proc, settle=0)
    assert proc not in phones_running()
