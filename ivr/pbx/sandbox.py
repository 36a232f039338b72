"""A local, sandboxed Asterisk 22 for development and tests.

Debian 12 has no ``asterisk`` package, so the sandbox builds a Debian *sid* root with
``mmdebstrap`` (Asterisk + SIPp), caches it as a tarball outside the checkout, unpacks it under the
project's ``var/``, installs the project's own configuration from ``ivr/pbx/asterisk/`` and runs
``asterisk -f`` inside a ``chroot`` on loopback only. The project's prompt directory and the
recordings directory are bind-mounted into the root so Asterisk plays what ``hotline prompts
render`` wrote (the music on hold, ``sounds/moh``, too). Everything is stopped by PID, and only
what this module started is stopped.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ivr.processes import port_open, terminate

log = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).parent / "asterisk"
SIPP_DIR = Path(__file__).parent / "sipp"
PACKAGES = ("asterisk", "sip-tester")
SUITE = "sid"
# Bump when the way the root is built changes: the cache key changes with it.
ROOT_RECIPE_VERSION = "1"
DEFAULT_CACHE_DIR = Path("/var/cache/hotline12366")
MOH_DIR = "/var/lib/asterisk/moh/hotline"  # musiconhold.conf: the hotline's music class
# Media runs ahead of everything else on the machine: Asterisk (and the SIPp phones,
# ivr/pbx/sipp.py) start 10 niceness steps above the process that starts them. A prompt, the
# music or a caller's words are 20 ms packets on a clock; a busy machine (the suite's workers,
# a browser, speech recognition) otherwise delays them into gaps the caller hears, as
# Asterisk's own ``-p`` (real-time priority) is there to avoid in production. Lowering niceness
# needs root, as the sandbox does; without it ``nice`` says so and runs the command as it is.
MEDIA_PRIORITY = ("nice", "-n", "-10")


class SandboxError(RuntimeError):
    """The sandbox cannot be provisioned, started or used on this machine."""


@dataclass(frozen=True)
class PbxPorts:
    """Loopback ports of one sandbox; tests use a different set than `make run`."""

    ami: int = 5038
    sip: int = 5060
    rtp_start: int = 10000
    rtp_end: int = 10199

    @property
    def caller(self) -> int:
        """SIP port of scripted SIPp callers."""
        return self.sip + 10

    @property
    def callee(self) -> int:
        """SIP port of the scripted phone the callback trunk calls (``callee`` endpoint)."""
        return self.sip + 20

    def agent(self, n: int) -> int:
        """SIP port of the scripted phone of agent ``n`` (1-based)."""
        return self.sip + 10 + n

    @property
    def rtp_ports(self) -> int:
        return self.rtp_end - self.rtp_start + 1

    @property
    def supervisor(self) -> int:
        """SIP port of the scripted phone of the supervisor (``PJSIP/supervisor1``)."""
        return self.sip + 18


@dataclass(frozen=True)
class AgentPool:
    """More agent endpoints (``agent{first}`` .. ``agent{first + count - 1}``) whose phones
    are one SIPp UAS on ``port`` (it answers any number of calls at once): the load
    benchmark's seats. ``agent1``..``agent3`` keep their own ports."""

    count: int
    port: int
    first: int = 4

    def names(self) -> list[str]:
        return [f"agent{n}" for n in range(self.first, self.first + self.count)]

    def pjsip(self) -> str:
        return "".join(
            f"\n[{name}](endpoint-tpl)\ncontext = agents\naors = {name}\n"
            f"[{name}]\ntype = aor\ncontact = sip:{name}@127.0.0.1:{self.port}\n"
            for name in self.names())


@dataclass(frozen=True)
class PbxCredentials:
    ami_user: str = "hotline"
    ami_secret: str = "hotline-secret"
    softphone_secret: str = "softphone-12366"
    # the desk's Originate-only account (hold's music, supervisors' phones)
    dial_user: str = "hotline-dial"
    dial_secret: str = "hotline-dial-secret"
    # a second AMI account with originate and command rights, for test drivers only (it
    # places calls and hangs them all up; the bridge never has these rights)
    driver_user: str | None = None
    driver_secret: str = ""

    def extra_accounts(self) -> str:
        if not self.driver_user:
            return ""
        return (f"\n[{self.driver_user}]\nsecret = {self.driver_secret}\n"
                "deny = 0.0.0.0/0.0.0.0\npermit = 127.0.0.1/255.255.255.255\n"
                "read = all\nwrite = originate,command,call,agent,config,reporting,system\n"
                "writetimeout = 5000\n")


def host_support() -> str | None:
    """Why this machine cannot host the sandbox, or None when it can."""
    if os.geteuid() != 0:
        return "the Asterisk sandbox needs root (chroot and bind mounts)"
    if not Path("/etc/debian_version").exists():
        return "the Asterisk sandbox is built with Debian's mmdebstrap; this is not Debian"
    return None


def debian_mirror(apt_dirs: tuple[Path, ...] = (Path("/etc/apt"),)) -> str:
    """The Debian archive URL this machine's own apt sources use (never hard-coded)."""
    candidates: list[str] = []
    for apt_dir in apt_dirs:
        files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*"))]
        for path in files:
            if not path.is_file():
                continue
            text = path.read_text(errors="replace")
            candidates += re.findall(r"^\s*URIs:\s*(\S+)", text, flags=re.MULTILINE)
            candidates += re.findall(
                r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)", text, flags=re.MULTILINE
            )
    for url in candidates:
        if url.rstrip("/").endswith("/debian"):
            return url.rstrip("/")
    raise SandboxError("no Debian archive found in the apt sources of this machine")


def _render_config(text: str, values: dict[str, str]) -> str:
    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise SandboxError(f"unknown placeholder @@{key}@@ in the Asterisk configuration")
        return values[key]

    return re.sub(r"@@([A-Z0-9_]+)@@", sub, text)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class AsteriskSandbox:
    """One sandboxed Asterisk, its state kept under ``state_dir``."""

    def __init__(
        self,
        state_dir: Path,
        sounds_dir: Path,
        recordings_dir: Path,
        ports: PbxPorts | None = None,
        credentials: PbxCredentials | None = None,
        cache_dir: Path = DEFAULT_CACHE_DIR,
        moh_dir: Path | None = None,
        boot_timeout: float = 30.0,
        system_name: str | None = None,
        agent_pool: AgentPool | None = None,
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.agent_pool = agent_pool
        # asterisk.conf systemname: a node of several (uniqueids "<name>-<epoch>.<n>")
        self.system_name = system_name
        # how long start() waits for FullyBooted (a loaded machine boots Asterisk slowly)
        self.boot_timeout = boot_timeout
        self.sounds_dir = sounds_dir.resolve()
        # the music on hold, beside the prompts (sounds/moh next to sounds/zh)
        self.moh_dir = (moh_dir or sounds_dir.parent / "moh").resolve()
        self.recordings_dir = recordings_dir.resolve()
        self.ports = ports or PbxPorts()
        self.credentials = credentials or PbxCredentials()
        self.cache_dir = cache_dir
        self.root = self.state_dir / "root"
        self.pid_file = self.state_dir / "asterisk.pid"
        self.console_log = self.state_dir / "asterisk.console.log"

    # -- provisioning -------------------------------------------------------------------

    @property
    def recipe_key(self) -> str:
        recipe = f"{ROOT_RECIPE_VERSION}|{SUITE}|{','.join(PACKAGES)}"
        return hashlib.sha256(recipe.encode()).hexdigest()[:16]

    @property
    def tarball(self) -> Path:
        return self.cache_dir / f"asterisk-root-{self.recipe_key}.tar.zst"

    def provision(self) -> None:
        """Build (once, cached) and unpack the sid root with Asterisk and SIPp."""
        reason = host_support()
        if reason:
            raise SandboxError(reason)
        stamp = self.state_dir / "root.stamp"
        if stamp.exists() and stamp.read_text() == self.recipe_key and self.root.is_dir():
            return
        with _locked(self.cache_dir / "build.lock"):
            if not self.tarball.exists():
                self._build_tarball()
        if self.is_running():
            raise SandboxError("cannot replace the root while Asterisk runs; stop it first")
        self._unmount_all()
        if self.root.exists():
            mounted = self._mounts_under_root()
            if mounted:  # never delete through a bind mount into the project's own files
                raise SandboxError(f"cannot replace the root: still mounted: {mounted}")
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        log.info("unpacking %s into %s", self.tarball, self.root)
        subprocess.run(
            ["tar", "-C", str(self.root), "--numeric-owner", "-I", "zstd", "-xf",
             str(self.tarball)],
            check=True,
        )
        stamp.write_text(self.recipe_key)

    def _build_tarball(self) -> None:
        for tool, package in (("mmdebstrap", "mmdebstrap"), ("zstd", "zstd")):
            if shutil.which(tool) is None:
                log.info("installing %s", package)
                subprocess.run(["apt-get", "install", "-y", "-q", package], check=False,
                               stdout=subprocess.DEVNULL)
                if shutil.which(tool) is None:
                    subprocess.run(["apt-get", "update", "-q"], check=False,
                                   stdout=subprocess.DEVNULL)
                    subprocess.run(["apt-get", "install", "-y", "-q", package], check=True,
                                   stdout=subprocess.DEVNULL)
        mirror = debian_mirror()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        partial = self.tarball.with_suffix(".partial.tar.zst")
        log.info("building the Asterisk root from %s %s (about a minute)", mirror, SUITE)
        cmd = [
            "mmdebstrap", "--variant=apt", "--include=" + ",".join(PACKAGES),
            "--aptopt=Acquire::Check-Valid-Until \"false\"",
            "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-exclude=/usr/share/man/*",
            SUITE, str(partial), mirror,
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
        if result.returncode != 0:
            partial.unlink(missing_ok=True)
            raise SandboxError(
                "mmdebstrap failed to build the Asterisk root:\n" + result.stderr[-3000:]
            )
        partial.rename(self.tarball)

    # -- configuration --------------------------------------------------------------------

    def config_values(self) -> dict[str, str]:
        p, c = self.ports, self.credentials
        return {
            "AMI_PORT": str(p.ami), "SIP_PORT": str(p.sip),
            "RTP_START": str(p.rtp_start), "RTP_END": str(p.rtp_end),
            "CALLER_PORT": str(p.caller),
            "AGENT1_PORT": str(p.agent(1)), "AGENT2_PORT": str(p.agent(2)),
            "AGENT3_PORT": str(p.agent(3)), "SUPERVISOR1_PORT": str(p.supervisor),
            "CALLEE_PORT": str(p.callee),
            "AGENT_POOL": self.agent_pool.pjsip() if self.agent_pool else "",
            "AMI_USER": c.ami_user, "AMI_SECRET": c.ami_secret,
            "AMI_DIAL_USER": c.dial_user, "AMI_DIAL_SECRET": c.dial_secret,
            "AMI_EXTRA_ACCOUNTS": c.extra_accounts(),
            "SOFTPHONE_SECRET": c.softphone_secret,
            "SYSTEM_NAME": (f"systemname = {self.system_name}" if self.system_name
                            else "; systemname: unset (a single node)"),
        }

    def rendered_config(self, name: str) -> str:
        """The project's ``name`` (e.g. ``manager.conf``) as this sandbox installs it."""
        return _render_config((CONFIG_DIR / name).read_text(), self.config_values())

    def install_config(self) -> None:
        """Replace the root's /etc/asterisk with the project's configuration."""
        etc = self.root / "etc/asterisk"
        dist = self.root / "etc/asterisk.dist"
        if not dist.exists():
            etc.rename(dist)
        if etc.exists():
            shutil.rmtree(etc)
        etc.mkdir()
        for src in sorted(CONFIG_DIR.glob("*.conf")):
            (etc / src.name).write_text(self.rendered_config(src.name))
        shutil.copy(dist / "indications.conf", etc / "indications.conf")
        for name in ("acl", "ccss", "pjproject", "stasis", "udptl"):
            (etc / f"{name}.conf").touch()
        hostname = socket.gethostname()
        (self.root / "etc/hosts").write_text(
            f"127.0.0.1 localhost {hostname}\n::1 localhost ip6-localhost {hostname}\n"
        )
        (self.root / "etc/resolv.conf").write_text(
            "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"
        )
        for sub in ("run/asterisk", "var/log/asterisk", "var/spool/asterisk", "opt/hotline"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        sipp_target = self.root / "opt/hotline/sipp"
        sipp_target.mkdir(parents=True, exist_ok=True)

    # -- mounts ---------------------------------------------------------------------------

    def _mounts(self) -> list[tuple[Path, Path]]:
        return [
            (self.sounds_dir, self.root / "usr/share/asterisk/sounds/zh"),
            (self.moh_dir, self.root / MOH_DIR.lstrip("/")),
            (self.recordings_dir, self.root / "var/spool/asterisk/recording"),
        ]

    @staticmethod
    def _is_mounted(target: Path) -> bool:
        wanted = str(target)
        with open("/proc/self/mounts") as mounts:
            return any(line.split()[1] == wanted for line in mounts if line.strip())

    def _mounts_under_root(self) -> list[str]:
        prefix = str(self.root) + "/"
        with open("/proc/self/mounts") as mounts:
            return [line.split()[1] for line in mounts
                    if len(line.split()) > 1 and line.split()[1].startswith(prefix)]

    def _mount_all(self) -> None:
        for source, target in self._mounts():
            source.mkdir(parents=True, exist_ok=True)
            target.mkdir(parents=True, exist_ok=True)
            if not self._is_mounted(target):
                subprocess.run(["mount", "--bind", str(source), str(target)], check=True)

    def _unmount_all(self) -> None:
        for _source, target in self._mounts():
            if self._is_mounted(target):
                subprocess.run(["umount", "-l", str(target)], check=False)

    # -- process --------------------------------------------------------------------------

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            cmdline = b""
        if cmdline and b"asterisk" not in cmdline and b"chroot" not in cmdline:
            return None  # the PID was reused by something that is not ours
        return pid

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(self, timeout: float | None = None) -> int:
        """Start Asterisk (provisioning first if needed) and wait until it is fully booted
        (``timeout``, default ``boot_timeout``)."""
        if timeout is None:
            timeout = self.boot_timeout
        existing = self.pid()
        if existing:
            return existing
        self.provision()
        self.install_config()
        self._mount_all()
        for port in (self.ports.ami,):
            if port_open(port):
                raise SandboxError(
                    f"127.0.0.1:{port} is already in use by another process; "
                    "stop it or choose other ports"
                )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self.console_log.open("ab") as console:
            proc = subprocess.Popen(
                [*MEDIA_PRIORITY, "chroot", str(self.root), "/usr/sbin/asterisk", "-f", "-n",
                 "-q"],
                stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        try:
            self.wait_fully_booted(timeout)
        except SandboxError:
            self.stop()
            raise
        log.info("Asterisk sandbox running, pid %s, AMI 127.0.0.1:%s", proc.pid, self.ports.ami)
        return proc.pid

    def wait_fully_booted(self, timeout: float) -> None:
        """Log in to AMI and wait for the FullyBooted event (sent at login once booted)."""
        deadline = time.monotonic() + timeout
        last_error = "no answer"
        while time.monotonic() < deadline:
            if not self.is_running():
                raise SandboxError(
                    "Asterisk exited during start-up; see " + str(self.console_log)
                )
            try:
                if self._ami_fully_booted(deadline):
                    return
            except OSError as exc:
                last_error = str(exc)
            time.sleep(0.2)
        raise SandboxError(f"Asterisk did not boot within {timeout:.0f} s ({last_error})")

    def _ami_fully_booted(self, deadline: float) -> bool:
        c = self.credentials
        with socket.create_connection(("127.0.0.1", self.ports.ami), timeout=2) as sock:
            sock.sendall(
                f"Action: Login\r\nUsername: {c.ami_user}\r\nSecret: {c.ami_secret}\r\n"
                "Events: system\r\n\r\n".encode()
            )
            data = b""
            while time.monotonic() < deadline:
                sock.settimeout(max(0.1, min(2.0, deadline - time.monotonic())))
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    return False
                if not chunk:
                    return False
                data += chunk
                if b"Authentication failed" in data:
                    raise SandboxError("AMI login refused: credentials do not match")
                if b"Event: FullyBooted" in data:
                    sock.sendall(b"Action: Logoff\r\n\r\n")
                    return True
        return False

    def crash(self) -> bool:
        """Kill Asterisk with SIGKILL, as a crash would (tests of the bridge's recovery)."""
        return self.stop(sig=signal.SIGKILL)

    def stop(self, timeout: float = 15.0, sig: signal.Signals = signal.SIGTERM) -> bool:
        """Stop the Asterisk this sandbox started (by PID). True if one was running."""
        pid = self.pid()
        was_running = pid is not None
        if pid is not None:
            terminate(pid, timeout, sig)
        self.pid_file.unlink(missing_ok=True)
        if self.root.exists():
            self._unmount_all()
        return was_running

    def restart(self, timeout: float | None = None) -> int:
        self.stop()
        return self.start(timeout)

    def status(self) -> dict[str, object]:
        pid = self.pid()
        return {
            "running": pid is not None,
            "pid": pid,
            "ami": f"127.0.0.1:{self.ports.ami}",
            "sip": f"127.0.0.1:{self.ports.sip}",
            "root": str(self.root),
            "provisioned": self.root.is_dir(),
        }

    def cli(self, command: str, timeout: float = 10.0) -> str:
        """Run an Asterisk CLI command (``asterisk -rx``) in the sandbox."""
        result = subprocess.run(
            ["chroot", str(self.root), "/usr/sbin/asterisk", "-rx", command],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
        return result.stdout

    def queue_log(self) -> str:
        path = self.root / "var/log/asterisk/queue_log"
        return path.read_text(errors="replace") if path.exists() else ""
