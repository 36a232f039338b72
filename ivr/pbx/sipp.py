"""Scripted SIP callers and agent phones (SIPp scenarios), run inside the sandbox root.

A caller script is a list of steps (pause, DTMF as RFC 2833 or SIP INFO, hang up); it is turned
into a SIPp XML scenario. RFC 2833 digits are replayed from the captures that Debian's
``sip-tester`` ships (digits 0-9 only; ``*`` and ``#`` are sent as SIP INFO).
Like a phone, a caller sends media for the whole call: a silent PCMU packet every
:data:`KEEPALIVE_INTERVAL_MS` (a capture written into the sandbox root, :func:`keepalive_pcap`),
restarted after each RFC 2833 digit (SIPp plays one capture at a time). Asterisk hangs up a
caller it receives no RTP from (``rtp_timeout`` in pjsip.conf): :class:`Vanish` is the phone
that drops out (no more RTP, no BYE).
An agent phone is a SIPp UAS that rings for a while, answers, talks for a while and hangs up (or
waits for the other side to hang up first).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import struct
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ivr.pbx.sandbox import MEDIA_PRIORITY
from ivr.processes import udp_port_free

DtmfMode = Literal["rfc2833", "info"]


@dataclass(frozen=True)
class Pause:
    ms: int


@dataclass(frozen=True)
class Dtmf:
    digits: str
    mode: DtmfMode = "rfc2833"
    gap_ms: int = 400


@dataclass(frozen=True)
class Hangup:
    """The caller hangs up (sends BYE)."""


@dataclass(frozen=True)
class Vanish:
    """The caller's phone drops out (a mobile losing coverage): it stops sending RTP and never
    sends BYE. The scenario then only waits for Asterisk to end the call (its BYE, answered so
    that the test sees when; the clearing does not depend on the answer)."""


Step = Pause | Dtmf | Hangup | Vanish

# the media a silent caller sends: one PCMU packet of silence this often (a phone sends one
# every 20 ms; sparser keeps SIPp light and is as good a sign of life for rtp_timeout)
KEEPALIVE_INTERVAL_MS = 500
KEEPALIVE_SECONDS = 900  # longer than any scripted call (tests.support.CALL_LIMIT_S)
KEEPALIVE_PCAP = "/opt/hotline/sipp/keepalive.pcap"
# what a phone with a silent user sends: PCMU silence every 20 ms (an agent phone that
# ``sends_silence``; hold's music reaches the caller in these frames: callcenter/agents/hold.py)
PHONE_SILENCE_PCAP = "/opt/hotline/sipp/phone-silence.pcap"
PHONE_SILENCE_SECONDS = 120
STOP_MEDIA_PCAP = "/opt/hotline/sipp/stop-media.pcap"


def keepalive_pcap(packets: int, interval_ms: int = KEEPALIVE_INTERVAL_MS,
                   ssrc: int = 0x12366) -> bytes:
    """A pcap (Ethernet, IPv4, UDP) of ``packets`` RTP packets of PCMU silence, one every
    ``interval_ms``, for SIPp's ``play_pcap_audio`` (it sends the UDP payloads from the
    call's media port to Asterisk's, paced by the capture's timestamps)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    payload = b"\xff" * 160  # mu-law silence, 20 ms
    for n in range(packets):
        rtp = struct.pack("!BBHII", 0x80, 0, n & 0xFFFF, (n * interval_ms * 8) & 0xFFFFFFFF,
                          ssrc) + payload
        udp = struct.pack("!HHHH", 49176, 10000, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xFFFF, 0, 64, 17, 0,
                         bytes([192, 168, 0, 3]), bytes([192, 168, 0, 1])) + udp
        frame = b"\x00\x50\xbf\x99\x03\x36\x00\x0d\x87\x14\xac\x24\x08\x00" + ip
        at_ms = n * interval_ms
        out.append(struct.pack("<IIII", at_ms // 1000, (at_ms % 1000) * 1000, len(frame),
                               len(frame)) + frame)
    return b"".join(out)


def _play(pcap: str) -> str:
    return f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n'

_HEADER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
"""

_INVITE = """  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Taxpayer" <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:caller@[local_ip]:[local_port]>
      P-Asserted-Identity: <sip:{number}@127.0.0.1>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true" rrs="true">{capture}</recv>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Taxpayer" <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""

_IN_DIALOG = """  <send retrans="500">
    <![CDATA[
      {method} [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Taxpayer" <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[$totag]
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
{extra}
    ]]>
  </send>
  <recv response="200"/>
"""

_WAIT_BYE = """  <recv request="BYE" timeout="{timeout_ms}"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
"""

_FOOTER = """  <ResponseTimeRepartition value="10, 20, 30, 40, 50, 100, 150, 200"/>
  <CallLengthRepartition value="10, 50, 100, 500, 1000, 5000, 10000"/>
</scenario>
"""


def caller_scenario(steps: list[Step], number: str = "13800138000",
                    wait_bye_ms: int = 120_000, media: bool = True) -> str:
    """A SIPp UAC scenario: call, run the steps, then hang up or wait for the BYE. With
    ``media`` the caller sends RTP (silence) from the answer until it hangs up or vanishes."""
    if not number.isdigit():
        raise ValueError("caller number must be digits")
    in_dialog = any(isinstance(s, Hangup) or (isinstance(s, Dtmf) and (
        s.mode == "info" or not s.digits.isdigit())) for s in steps)
    # the To tag of the 200 OK, for in-dialog requests (SIPp refuses unused variables)
    capture = ('\n    <action><ereg regexp=";tag=[^;>]*" search_in="hdr" header="To:" '
               'assign_to="totag"/></action>\n  ' if in_dialog else "")
    parts = [_HEADER, '<scenario name="12366 caller">\n',
             _INVITE.format(number=number, capture=capture)]
    if media:
        parts.append(_play(KEEPALIVE_PCAP))
    cseq = itertools.count(2)
    hung_up = False
    for step in steps:
        if hung_up:
            raise ValueError("no step may follow Hangup or Vanish")
        if isinstance(step, Pause):
            parts.append(f'  <pause milliseconds="{step.ms}"/>\n')
        elif isinstance(step, Dtmf):
            for digit in step.digits:
                if step.mode == "rfc2833" and digit.isdigit():
                    parts.append(
                        '  <nop><action><exec play_pcap_audio='
                        f'"/usr/share/sip-tester/dtmf_2833_{digit}.pcap"/></action></nop>\n'
                    )
                    parts.append('  <pause milliseconds="250"/>\n')
                else:
                    if digit not in "0123456789*#ABCD":
                        raise ValueError(f"not a DTMF digit: {digit!r}")
                    signal = {"*": "10", "#": "11"}.get(digit, digit)
                    payload = f"Signal={signal}\nDuration=160\n"
                    extra = (
                        "      Content-Type: application/dtmf-relay\n"
                        f"      Content-Length: {len(payload.encode())}\n\n"
                        + "".join(f"      {line}\n" for line in payload.splitlines())
                    )
                    parts.append(_IN_DIALOG.format(method="INFO", cseq=next(cseq), extra=extra))
                parts.append(f'  <pause milliseconds="{step.gap_ms}"/>\n')
                if media and step.mode == "rfc2833" and digit.isdigit():
                    parts.append(_play(KEEPALIVE_PCAP))  # the digit's capture replaced it
        elif isinstance(step, Hangup):
            parts.append(_IN_DIALOG.format(method="BYE", cseq=next(cseq),
                                           extra="      Content-Length: 0\n"))
            hung_up = True
        elif isinstance(step, Vanish):
            # a one-packet capture replaces the running one: the media stops here
            parts.append(_play(STOP_MEDIA_PCAP))
            parts.append(_WAIT_BYE.format(timeout_ms=wait_bye_ms))
            hung_up = True
    if not hung_up:
        parts.append(_WAIT_BYE.format(timeout_ms=wait_bye_ms))
    parts.append(_FOOTER)
    return "".join(parts)


_AGENT = """<scenario name="hotline agent phone">
  <recv request="INVITE" crlf="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="remote_from"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="local_to"/>
      <ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" assign_to="remote_contact"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="{ring_ms}"/>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[media_ip_type] [media_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP {payload}
      a=rtpmap:{payload} {codec}/8000

    ]]>
  </send>
  <recv request="ACK"{ack_optional} rtd="true" crlf="true"/>
{speak}  <recv request="BYE" timeout="{talk_ms}" ontimeout="agent_hangs_up"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>
  <nop next="done"/>
  <label id="agent_hangs_up"/>
  <send retrans="500">
    <![CDATA[
      BYE [$remote_contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$local_to];tag=[pid]SIPpTag01[call_number]
      To: [$remote_from]
      Call-ID: [call_id]
      CSeq: 1 BYE
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
  <label id="done"/>
"""


# SIPp's own 7 s sample of speech (G.711 A-law RTP), what a talking agent phone sends
AGENT_SPEECH_PCAP = "/usr/share/sip-tester/g711a.pcap"
AGENT_SPEECH_S = 7.0


def agent_scenario(ring_ms: int = 500, talk_ms: int = 3000, speaks: bool = False,
                   sends_silence: bool = False) -> str:
    """A SIPp UAS agent phone: rings ``ring_ms``, answers, hangs up after ``talk_ms``
    unless the caller side hangs up first. ``speaks``: it answers with A-law and sends
    SIPp's sample of speech (``AGENT_SPEECH_S`` long) from the answer on; otherwise it sends
    no audio (μ-law)."""
    speak = (f'  <nop><action><exec play_pcap_audio="{AGENT_SPEECH_PCAP}"/></action></nop>\n'
             if speaks else _play(PHONE_SILENCE_PCAP) if sends_silence else "")
    # SIPp wants a recv after an optional one: a speaking phone waits for the ACK
    return _HEADER + _AGENT.format(ring_ms=ring_ms, talk_ms=talk_ms, speak=speak,
                                   ack_optional="" if speaks or sends_silence
                                   else ' optional="true"',
                                   payload=8 if speaks else 0,
                                   codec="PCMA" if speaks else "PCMU") + _FOOTER


_REFUSING = """<scenario name="callback callee that does not answer">
  <recv request="INVITE" crlf="true"/>
{answer}
"""
def _response(status: str, cseq: str = "[last_CSeq:]", contact: bool = False) -> str:
    """A SIPp UAS response to the last request (the dialog's To tag)."""
    contact_line = ("      Contact: <sip:[local_ip]:[local_port];transport=[transport]>\n"
                    if contact else "")
    return f"""  <send>
    <![CDATA[
      SIP/2.0 {status}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag02[call_number]
      [last_Call-ID:]
      {cseq}
{contact_line}      Content-Length: 0

    ]]>
  </send>
"""


_CANCELLED = """  <recv request="CANCEL" timeout="{ring_ms}">
    <action>
      <ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="invite_cseq"/>
    </action>
  </recv>
"""
_RINGS_OUT = (_response("180 Ringing", contact=True) + _CANCELLED + _response("200 OK")
              + _response("487 Request Terminated", cseq="CSeq: [$invite_cseq] INVITE")
              + '  <recv request="ACK"/>')
_BUSY = _response("486 Busy Here") + '  <recv request="ACK"/>'


def refusing_callee_scenario(busy: bool = False, ring_ms: int = 120_000) -> str:
    """A SIPp UAS phone called back that does not take the call: it rings until the caller
    gives up (CANCEL; ``busy`` False) or answers 486 Busy Here at once."""
    answer = _BUSY if busy else _RINGS_OUT.format(ring_ms=ring_ms)
    return _HEADER + _REFUSING.format(answer=answer) + _FOOTER


@dataclass
class SippResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


_phones: set[subprocess.Popen[str]] = set()  # every SIPp ``spawn`` started in this process
_phones_lock = threading.Lock()


def phones_running() -> set[subprocess.Popen[str]]:
    """The SIPp processes ``spawn`` started in this process that have not exited yet: what a
    test harness stops after a test that failed before switching its phones off (one left on
    its port made the next tests on that worker fail: "held already")."""
    with _phones_lock:
        _phones.difference_update([proc for proc in _phones if proc.poll() is not None])
        return set(_phones)


def spawn(cmd: list[str], local_port: int, start_s: float = 10.0) -> subprocess.Popen[str]:
    """Start a SIPp in the background once its SIP port is free, and return when it listens
    there. A phone that cannot bind (a SIPp of an earlier test still on the port) would let
    every INVITE to it go unanswered; this names the port instead, and a SIPp that exits at
    start is reported with what it printed."""
    if not udp_port_free(local_port):
        raise RuntimeError(f"UDP port {local_port} on 127.0.0.1 is held already: a SIPp phone "
                           "left running?")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with _phones_lock:
        _phones.add(proc)
    deadline = time.monotonic() + start_s
    while udp_port_free(local_port):
        if proc.poll() is not None or time.monotonic() > deadline:
            result = SippRunner.stop(proc, timeout=1.0, settle=0)
            raise RuntimeError(f"SIPp on port {local_port} did not start (exit "
                               f"{result.returncode}): {result.stderr[-2000:]}"
                               f"{result.stdout[-2000:]}")
        time.sleep(0.01)
    return proc


class SippRunner:
    """Runs SIPp inside the sandbox root, on loopback."""

    _ids = itertools.count(1)
    _lock = threading.Lock()

    def __init__(self, root: Path, sip_port: int) -> None:
        self.root = root
        self.sip_port = sip_port
        self._media_written = False

    def _write_media(self) -> None:
        """The callers' media captures, in the root (once per runner; same bytes every time,
        replaced atomically so that a SIPp of another runner never reads half a file)."""
        with self._lock:
            if self._media_written:
                return
            packets = KEEPALIVE_SECONDS * 1000 // KEEPALIVE_INTERVAL_MS
            for rel, data in ((KEEPALIVE_PCAP, keepalive_pcap(packets)),
                              (STOP_MEDIA_PCAP, keepalive_pcap(1)),
                              (PHONE_SILENCE_PCAP,
                               keepalive_pcap(PHONE_SILENCE_SECONDS * 50, interval_ms=20))):
                path = self.root / rel.lstrip("/")
                path.parent.mkdir(parents=True, exist_ok=True)
                if not path.exists() or path.read_bytes() != data:
                    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
                    tmp.write_bytes(data)
                    tmp.replace(path)
            self._media_written = True

    def _write(self, xml: str, name: str) -> str:
        with self._lock:
            n = next(self._ids)
        self._write_media()
        rel = f"opt/hotline/sipp/{name}-{n}.xml"
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(xml, encoding="iso-8859-1")
        return "/" + rel

    @staticmethod
    def media_port(local_port: int) -> int:
        """The RTP port of the SIPp instance on SIP port ``local_port`` (in its SDP): where
        Asterisk sends what the caller hears."""
        # media and control ports derive from the (unique) SIP port and stay within the port
        # base's block of 1000 (SIP base+70.., media base+470.., control base+670..), so that
        # test runs and xdist workers with different port bases never share one
        return local_port + 400

    def _command(self, scenario: str, local_port: int, extra: list[str]) -> list[str]:
        # a phone is a device of its own: its media keeps time ahead of the machine's other
        # work, as Asterisk's does (ivr/pbx/sandbox.py MEDIA_PRIORITY)
        return [
            *MEDIA_PRIORITY, "chroot", str(self.root), "sipp", f"127.0.0.1:{self.sip_port}",
            "-sf", scenario, "-i", "127.0.0.1", "-p", str(local_port),
            "-mp", str(self.media_port(local_port)), "-cp", str(local_port + 600),
            "-nostdin", "-nr", *extra,
        ]

    def call(self, steps: list[Step], local_port: int, number: str = "13800138000",
             service: str = "12366", timeout_s: int = 120) -> SippResult:
        """Place one call and wait for it to end."""
        scenario = self._write(caller_scenario(steps, number, wait_bye_ms=timeout_s * 1000),
                               "caller")
        cmd = self._command(scenario, local_port, [
            "-s", service, "-m", "1", "-timeout", f"{timeout_s}s", "-timeout_error",
        ])
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s + 15,
                              check=False)
        return SippResult(proc.returncode, proc.stdout, proc.stderr)

    def start_call(self, steps: list[Step], local_port: int, number: str = "13800138000",
                   service: str = "12366", timeout_s: int = 120) -> subprocess.Popen[str]:
        """Place one call in the background; the caller waits for its end (``wait()``)."""
        scenario = self._write(caller_scenario(steps, number, wait_bye_ms=timeout_s * 1000),
                               "caller")
        cmd = self._command(scenario, local_port, [
            "-s", service, "-m", "1", "-timeout", f"{timeout_s}s", "-timeout_error",
        ])
        return spawn(cmd, local_port)

    def start_agent(self, local_port: int, ring_ms: int = 500, talk_ms: int = 3000,
                    calls: int = 1, messages: Path | None = None,
                    speaks: bool = False, sends_silence: bool = False
                    ) -> subprocess.Popen[str]:
        """Start an agent phone answering ``calls`` calls; stop it with ``stop()``. With
        ``messages`` (a path in the root), SIPp logs every SIP message it sends or receives
        there (``-trace_msg``). ``speaks``: it sends speech once it answered
        (:func:`agent_scenario`)."""
        scenario = self._write(agent_scenario(ring_ms, talk_ms, speaks, sends_silence), "agent")
        extra = ["-m", str(calls)]
        if messages is not None:
            extra += ["-trace_msg", "-message_file",
                      "/" + str(messages.relative_to(self.root))]
        return spawn(self._command(scenario, local_port, extra), local_port)

    def start_refusing(self, local_port: int, busy: bool = False, calls: int = 1,
                       messages: Path | None = None) -> subprocess.Popen[str]:
        """Start a phone that lets ``calls`` calls ring out (or answers them busy)."""
        scenario = self._write(refusing_callee_scenario(busy), "refusing")
        extra = ["-m", str(calls)]
        if messages is not None:
            extra += ["-trace_msg", "-message_file",
                      "/" + str(messages.relative_to(self.root))]
        return spawn(self._command(scenario, local_port, extra), local_port)

    @staticmethod
    def stop(proc: subprocess.Popen[str], timeout: float = 5.0,
             settle: float = 2.0) -> SippResult:
        """Switch a SIPp off once its calls are over: a phone whose call is being hung up
        answers the BYE and, its calls done (``-m``), exits by itself; it is given ``settle``
        seconds for that, then terminated. A phone terminated as the BYE came left it
        unanswered; Asterisk sent it again for up to 32 s, and the next phone on that port
        took it for a call of its own, failed it and quit before its real call came. (SIPp's
        own ``q`` is no gentler for a phone: it aborts the calls in progress.)"""
        if proc.poll() is None and settle > 0:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(settle)
        if proc.poll() is None:
            proc.terminate()
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        return SippResult(proc.returncode if proc.returncode is not None else -1, out, err)
