"""The SMS gateway: Kannel's bearerbox and smsbox on loopback, and its simulated SMSC.

``hotline sms start`` writes a Kannel configuration into ``var/sms/`` (ports derived from one
port base), starts bearerbox, smsbox and the simulated SMSC ``fakesmsc`` (Debian package
``kannel-extras``) and tracks each by PID, like the Asterisk sandbox (``ivr/pbx/sandbox.py``).
Only what this module started is stopped, by PID.

The simulated SMSC is one ``fakesmsc`` in its interactive mode: it reads mobile-originated
lines from a FIFO (``handset.fifo``; :meth:`KannelGateway.inject`) and prints every message the
SMSC hands to a phone into ``handset.log``, one line a segment (:class:`HandsetLog`). It reads
its input with ``fgets`` into 256 bytes: a text sent through it must fit one such line
(:func:`callcenter.sms.codec.fakesmsc_mo_line`). An empty input line makes it look for messages
at once instead of within a second (:meth:`KannelGateway.poke`).

Production points bearerbox at the operator's SMSC: ``HOTLINE_SMS_SMSC_CONF`` names a file
with Kannel ``group = smsc`` groups that replace the simulated one (and no fakesmsc starts).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from callcenter.sms.codec import (
    AirMessage,
    Received,
    fakesmsc_mo_line,
    parse_fakesmsc_line,
    reassemble,
)
from ivr.processes import pid_alive, port_open, terminate

log = logging.getLogger(__name__)

BEARERBOX = Path("/usr/sbin/bearerbox")
SMSBOX = Path("/usr/sbin/smsbox")
FAKESMSC = Path("/usr/lib/kannel/test/fakesmsc")
SENDSMS_USER = "hotline"
SMSC_ID = "sim"
# most parts of one reply: Kannel cuts a longer text (the knowledge base's longest answer
# takes 3 parts)
MAX_PARTS = 10
_KEY = re.compile(r"^[A-Za-z0-9_.~-]{8,128}$")
_GOT = re.compile(r"Got message \d+: <(.*)>\s*$")


class GatewayError(RuntimeError):
    """The gateway cannot be started or used on this machine."""


@dataclass(frozen=True)
class SmsPorts:
    """Loopback ports of one gateway, derived from a port base (tests use their own)."""

    base: int = 13100  # apart from the Debian package's own configuration (13000-13013)

    @property
    def admin(self) -> int:
        """bearerbox's admin and status HTTP interface."""
        return self.base + 13

    @property
    def boxc(self) -> int:
        """bearerbox's port for smsbox."""
        return self.base + 14

    @property
    def smsc(self) -> int:
        """The simulated SMSC's port (fakesmsc connects to it)."""
        return self.base + 15

    @property
    def sendsms(self) -> int:
        """smsbox's sendsms HTTP interface."""
        return self.base + 16


def host_support() -> str | None:
    """Why this machine cannot run the gateway, or None when it can."""
    missing = [str(p) for p in (BEARERBOX, SMSBOX, FAKESMSC) if not p.exists()]
    if missing:
        return ("Kannel is not installed (Debian packages kannel, kannel-extras; "
                f"scripts/system-deps.sh): missing {', '.join(missing)}")
    return None






class HandsetLog:
    """What the simulated SMSC handed to phones: the message lines of ``handset.log`` from
    an offset on."""

    def __init__(self, path: Path, offset: int | None = None) -> None:
        self.path = path
        self.offset = (path.stat().st_size if path.exists() else 0) if offset is None \
            else offset
        self._rest = b""

    def read(self) -> list[AirMessage]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        self.offset += len(data)
        data = self._rest + data
        lines = data.split(b"\n")
        self._rest = lines.pop()
        messages: list[AirMessage] = []
        for raw in lines:
            match = _GOT.search(raw.decode("utf-8", errors="replace"))
            if match:
                message = parse_fakesmsc_line(match.group(1))
                if message is not None:
                    messages.append(message)
        return messages


@dataclass(frozen=True)
class Conversation:
    """What a phone received after sending a text: complete texts, in arrival order."""

    replies: list[Received]
    first_s: float      # from sending to the first segment on the phone
    last_s: float       # from sending to the last segment on the phone

    @property
    def segments(self) -> int:
        return sum(r.segments for r in self.replies)


class KannelGateway:
    """One Kannel (bearerbox + smsbox) and its simulated SMSC, state under ``state_dir``."""

    def __init__(self, state_dir: Path, ports: SmsPorts, *, app_url: str, key: str,
                 sendsms_password: str, service_number: str = "12366",
                 smsc_conf: Path | None = None) -> None:
        if not _KEY.match(key):
            raise GatewayError("HOTLINE_SMS_GATEWAY_KEY: 8 to 128 of A-Z a-z 0-9 _ . ~ -")
        if not _KEY.match(sendsms_password):
            raise GatewayError("HOTLINE_SMS_SENDSMS_PASSWORD: 8 to 128 of A-Z a-z 0-9 _ . ~ -")
        self.state_dir = state_dir.resolve()
        self.ports = ports
        self.app_url = app_url.rstrip("/")
        self.key = key
        self.sendsms_password = sendsms_password
        self.service_number = service_number
        self.smsc_conf = smsc_conf
        self.config_file = self.state_dir / "kannel.conf"
        self.fifo = self.state_dir / "handset.fifo"
        self.handset_log = self.state_dir / "handset.log"

    # -- configuration --------------------------------------------------------------------

    @property
    def admin_password(self) -> str:
        return self.sendsms_password

    def mo_url(self) -> str:
        """smsbox's get-url: %p sender, %P receiver, %b the raw text, %c coding, %C charset,
        %i SMSC id (escaped by smsbox)."""
        return (f"{self.app_url}/api/v1/sms/kannel/mo?key={self.key}"
                "&from=%p&to=%P&coding=%c&charset=%C&smsc=%i&text=%b")

    def render_config(self) -> str:
        p, d = self.ports, self.state_dir
        smsc = (self.smsc_conf.read_text() if self.smsc_conf is not None else
                f"group = smsc\nsmsc = fake\nsmsc-id = {SMSC_ID}\nport = {p.smsc}\n"
                "our-host = 127.0.0.1\nconnect-allow-ip = 127.0.0.1\n")
        return f"""# generated by `hotline sms start` (callcenter/sms/gateway.py): do not edit
group = core
admin-port = {p.admin}
admin-interface = 127.0.0.1
admin-password = {self.admin_password}
status-password = {self.admin_password}
admin-allow-ip = 127.0.0.1
smsbox-port = {p.boxc}
smsbox-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
box-deny-ip = "*.*.*.*"
log-file = "{d / 'bearerbox.log'}"
# warnings only, no access log: at info level Kannel logs every number and text
log-level = 2
dlr-storage = internal
store-type = file
store-location = "{d / 'store.db'}"

{smsc}
group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {p.boxc}
sendsms-port = {p.sendsms}
sendsms-interface = 127.0.0.1
log-file = "{d / 'smsbox.log'}"
log-level = 2
mo-recode = true

group = sendsms-user
username = {SENDSMS_USER}
password = {self.sendsms_password}
user-allow-ip = 127.0.0.1
concatenation = true
max-messages = {MAX_PARTS}

group = sms-service
keyword = default
catch-all = true
get-url = "{self.mo_url()}"
omit-empty = true
max-messages = 0
"""

    # -- processes --------------------------------------------------------------------------

    def _pid_file(self, name: str) -> Path:
        return self.state_dir / f"{name}.pid"

    def pid(self, name: str) -> int | None:
        try:
            pid = int(self._pid_file(name).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if not pid_alive(pid):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            cmdline = b""
        if cmdline and name.encode() not in cmdline:
            return None  # the PID was reused by something that is not ours
        return pid

    def names(self) -> tuple[str, ...]:
        return ("bearerbox", "smsbox") if self.smsc_conf else ("bearerbox", "smsbox", "fakesmsc")

    def is_running(self) -> bool:
        return all(self.pid(name) for name in self.names())

    def _spawn(self, name: str, argv: list[str], stdin: int | None = None) -> int:
        with (self.state_dir / f"{name}.console.log").open("ab") as console:
            proc = subprocess.Popen(argv, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                    stdout=console, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self._pid_file(name).write_text(str(proc.pid))
        return proc.pid

    def _wait(self, what: str, ready: object, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid(name) is None:
                raise GatewayError(f"{name} exited during start-up; see "
                                   f"{self.state_dir / (name + '.console.log')}")
            if callable(ready) and ready():
                return
            time.sleep(0.1)
        raise GatewayError(f"{what} not ready within {timeout:.0f} s")

    def start(self, timeout: float = 20.0) -> dict[str, int]:
        """Start bearerbox, smsbox and the simulated SMSC (each once); returns their PIDs."""
        reason = host_support()
        if reason:
            raise GatewayError(reason)
        if self.is_running():
            return {name: self.pid(name) or 0 for name in self.names()}
        self.stop()  # a half-started gateway: start it whole
        for port in (self.ports.admin, self.ports.boxc, self.ports.smsc, self.ports.sendsms):
            if port_open(port):
                raise GatewayError(f"127.0.0.1:{port} is already in use by another process; "
                                   "stop it or choose another port base (HOTLINE_SMS_PORT_BASE)")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self.render_config())
        try:
            self._spawn("bearerbox", [str(BEARERBOX), str(self.config_file)])
            self._wait("bearerbox", lambda: port_open(self.ports.admin), "bearerbox", timeout)
            self._spawn("smsbox", [str(SMSBOX), str(self.config_file)])
            self._wait("smsbox", lambda: port_open(self.ports.sendsms), "smsbox", timeout)
            if self.smsc_conf is None:
                self._start_fakesmsc()
                self._wait("the simulated SMSC", self.smsc_online, "fakesmsc", timeout)
        except (GatewayError, OSError):
            self.stop()
            raise
        return {name: self.pid(name) or 0 for name in self.names()}

    def _start_fakesmsc(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fifo.unlink()
        os.mkfifo(self.fifo, 0o600)
        # read-write: fakesmsc holds a writer itself and never reads end-of-file
        fd = os.open(self.fifo, os.O_RDWR)
        try:
            with self.handset_log.open("ab") as out:
                proc = subprocess.Popen(
                    [str(FAKESMSC), "-H", "127.0.0.1", "-r", str(self.ports.smsc), "-i", "0",
                     "-v", "0"],
                    stdin=fd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            os.close(fd)
        self._pid_file("fakesmsc").write_text(str(proc.pid))

    def bearerbox_status(self) -> str:
        try:
            response = httpx.get(f"http://127.0.0.1:{self.ports.admin}/status.txt",
                                 params={"password": self.admin_password}, timeout=2)
        except httpx.HTTPError:
            return ""
        return response.text

    def smsc_online(self) -> bool:
        status = self.bearerbox_status()
        return any(line.strip().startswith(f"{SMSC_ID}[") and "online" in line
                   for line in status.splitlines())

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop what this gateway started, by PID (the SMSC first). True if any ran."""
        any_running = False
        for name in ("fakesmsc", "smsbox", "bearerbox"):
            pid = self.pid(name)
            if pid is not None:
                any_running = True
                terminate(pid, timeout)
            self._pid_file(name).unlink(missing_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.fifo.unlink()
        return any_running

    def status(self) -> dict[str, object]:
        pids = {name: self.pid(name) for name in self.names()}
        return {
            "running": all(pids.values()),
            "pids": pids,
            "sendsms": f"127.0.0.1:{self.ports.sendsms}",
            "admin": f"127.0.0.1:{self.ports.admin}",
            "smsc": (f"simulated (fakesmsc) 127.0.0.1:{self.ports.smsc}"
                     if self.smsc_conf is None else str(self.smsc_conf)),
            "smsc_online": self.smsc_online() if pids.get("bearerbox") else False,
            "mo_url": self.mo_url().replace(self.key, "***"),
            "state_dir": str(self.state_dir),
        }

    # -- the simulated phone ----------------------------------------------------------------

    def _write_fifo(self, data: bytes) -> None:
        if self.pid("fakesmsc") is None:
            raise GatewayError("the simulated SMSC is not running: `hotline sms start` first")
        try:
            fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno in (errno.ENXIO, errno.ENOENT):
                raise GatewayError("the simulated SMSC does not read its input") from exc
            raise
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def inject(self, sender: str, text: str) -> None:
        """The simulated SMSC delivers ``text`` from phone ``sender`` to the service number."""
        self._write_fifo((fakesmsc_mo_line(sender, self.service_number, text) + "\n").encode())

    def poke(self) -> None:
        """Make fakesmsc read what the SMSC sent now (it looks once a second otherwise)."""
        self._write_fifo(b"\n")

    def converse(self, sender: str, text: str, timeout: float = 20.0,
                 settle: float = 1.0) -> Conversation:
        """Send ``text`` from ``sender`` and wait for the replies that phone receives: at
        least one complete text, then ``settle`` seconds without another segment."""
        handset = HandsetLog(self.handset_log)
        start = time.monotonic()
        self.inject(sender, text)
        parts: list[AirMessage] = []
        first = last = 0.0
        deadline = start + timeout
        while time.monotonic() < deadline:
            time.sleep(0.05)
            self.poke()
            new = [m for m in handset.read() if m.receiver == sender]
            now = time.monotonic() - start
            if new:
                parts += new
                first = first or now
                last = now
                continue
            done, waiting = reassemble(parts)
            if done and not waiting and now - last >= settle:
                return Conversation(done, first, last)
        done, waiting = reassemble(parts)
        if not done:
            raise GatewayError(f"no reply reached {sender} within {timeout:.0f} s "
                               f"({len(waiting)} parts of an incomplete text)")
        return Conversation(done, first, last)


def clean_state(state_dir: Path) -> None:
    """Remove a stopped gateway's state directory (tests)."""
    shutil.rmtree(state_dir, ignore_errors=True)
