"""Local processes the project starts itself (the sandboxed Asterisk, the SMS gateway, the
SIPp phones): whether one is alive, whether a loopback port answers or is held, and stopping one
by its PID."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import time
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a child of ours that exited is reaped, not taken as alive)."""
    try:
        waited, _status = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def port_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


UDP_TABLES = (Path("/proc/net/udp"), Path("/proc/net/udp6"))


def udp_ports_bound(tables: tuple[Path, ...] = UDP_TABLES) -> set[int] | None:
    """The UDP ports with a socket bound to them (any local address), as the kernel lists
    them; None where it has no such table (not Linux)."""
    found: set[int] | None = None
    for table in tables:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        found = found or set()
        for line in lines:  # "  12: 0100007F:5265 00000000:0000 07 ..."
            fields = line.split()
            if len(fields) > 1 and ":" in fields[1]:
                found.add(int(fields[1].rsplit(":", 1)[1], 16))
    return found


def udp_port_free(port: int) -> bool:
    """Whether nothing is bound to UDP ``port`` on 127.0.0.1. Read from the kernel's table
    where there is one, not by binding the port: a probe that binds holds the port for a
    moment, and a phone started then, at a higher priority than the prober, failed to bind
    its port ("Address already in use", a full run at 12 workers)."""
    bound = udp_ports_bound()
    if bound is not None:
        return port not in bound
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def terminate(pid: int, timeout: float, sig: signal.Signals = signal.SIGTERM) -> None:
    """Send ``sig`` to ``pid``, wait up to ``timeout`` s for it to end, then SIGKILL it and
    wait for that."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.05)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while pid_alive(pid):
            time.sleep(0.05)
