"""A caller waiting in a real queue with no free agent: music on hold between Mandarin position
and expected-wait announcements, the callback offer after its configured wait, and no English
sound anywhere in the menu or the queue.

What was played is Asterisk's own record: the verbose lines it logs for every sound it plays
("<channel> Playing '<file>.<format>' (... language 'zh')", logger.conf: messages.log), and
its MusicOnHoldStart/Stop AMI events; the music itself is checked on the caller's side (the RTP
the SIPp caller receives while Asterisk reports music on hold). The queue's configuration comes
from the database, pushed over AMI (callcenter/queues QueueConfigPusher).
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from callcenter.queues.services import QueueConfigPusher, QueueService
from ivr.ami.events import AmiEvent
from ivr.pbx.sipp import Dtmf, Hangup, Pause, Step
from tests.caller_audio import level
from tests.conftest import Harness, events_of
from tests.support import SOUNDS_DIR, TEST_PORTS
from tests.test_caller_audio import heard_call

pytestmark = pytest.mark.asterisk

# "<PJSIP/caller-00000001> Playing 'queue-thereare.slin' (language 'zh')" (file.c), and for
# AGI's STREAM FILE "... Playing 'welcome.slin' (escape_digits=...) (sample_offset 0)
# (language 'zh')" (res_agi.c)
PLAYING = re.compile(r"<(?P<channel>[^>]+)> Playing '(?P<file>[^']+)\.(?P<format>[^.']+)'"
                     r".*\(language '(?P<language>[^']*)'\)")
SOUND = 100.0  # RMS (16-bit) above which a 20 ms frame carries sound
ANNOUNCE_EVERY_S = 15      # the least app_queue allows (min-announce-frequency)
CALLBACK_OFFER_AFTER_S = 20
# consult records: our caller hears the recording notice (4.9 s) before joining the queue,
# and every moment after the join moves by as much
NOTICE_S = 5
FIRST_LEAVES_AFTER_S = 31 + NOTICE_S  # the caller ahead hangs up then: ~20 s after ours joined


@dataclass(frozen=True)
class Played:
    file: str
    format: str
    language: str


def played_on(log: str, channel: str) -> list[Played]:
    return [Played(m["file"], m["format"], m["language"])
            for m in PLAYING.finditer(log) if m["channel"] == channel]


def log_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def log_since(path: Path, offset: int) -> str:
    with path.open("rb") as log:
        log.seek(offset)
        return log.read().decode("utf-8", "replace")


def resolved_in_zh(file: str) -> bool:
    """Asterisk looks for a sound in the channel's language first (zh, our sounds/zh): a
    name found there is played from there, never from an English folder."""
    return (SOUNDS_DIR / f"{file}.wav").is_file()


class MohEvents:
    """MusicOnHoldStart/Stop of one channel, with when they came (time.monotonic())."""

    def __init__(self, harness: Harness) -> None:
        self.events: list[tuple[float, str, str, str]] = []  # (at, name, channel, class)
        harness.ami.on(AmiEvent, self._on_event, names=("MusicOnHoldStart", "MusicOnHoldStop"))

    def _on_event(self, event: AmiEvent) -> None:
        if event.name.lower() in ("musiconholdstart", "musiconholdstop"):
            self.events.append((time.monotonic(), event.name.lower(), event.header("Channel"),
                                event.header("Class")))

    def windows(self, channel: str) -> list[tuple[float, float, str]]:
        """(start, stop, class) of each stretch of music on ``channel``."""
        out: list[tuple[float, float, str]] = []
        started: tuple[float, str] | None = None
        for at, name, chan, klass in self.events:
            if chan != channel:
                continue
            if name == "musiconholdstart":
                started = (at, klass)
            elif started is not None:
                out.append((started[0], at, started[1]))
                started = None
        return out


async def test_a_queued_caller_hears_music_and_mandarin_position_and_wait(
        harness: Harness) -> None:
    queues = QueueService(harness.contacts.db, harness.services.clock)
    consult = queues.queue("consult")
    assert consult is not None
    before = {"announce_position": consult.announce_position,
              "announce_frequency_s": consult.announce_frequency_s,
              "callback_offer_after_s": consult.callback_offer_after_s}
    base = {"name": "consult", "title": consult.title, "skill": consult.skill}
    pusher = QueueConfigPusher(queues, harness.ami)
    queues.save_queue({**base, "announce_position": True,
                       "announce_frequency_s": ANNOUNCE_EVERY_S,
                       "callback_offer_after_s": CALLBACK_OFFER_AFTER_S}, actor="test")
    moh = MohEvents(harness)
    log_file = harness.pbx.root / "var/log/asterisk/messages.log"
    log_start = await asyncio.to_thread(log_size, log_file)
    try:
        await pusher.push()
        # someone is already waiting in consult (a Local channel straight into the queue, for
        # about 32 s): the caller is second in line, then first once they leave
        response = await harness.driver.send_action({
            "Action": "Originate", "Channel": "Local/s@dtmf-injector",
            "Context": "hotline-queue", "Exten": "consult", "Priority": "1", "Async": "true",
            "CallerID": "13900000502", "Variable": ["WAIT=1", f"HOLD={FIRST_LEAVES_AFTER_S}"]})
        assert str(response.get("Response")) == "Success", response
        caller = "13900000501"
        local_port = TEST_PORTS.sip + 30
        # 0 (an agent) during the welcome, typed ahead; nobody is logged in to consult: the
        # caller waits in the queue for about 38 s, then hangs up
        steps: list[Step] = [Pause(2000), Dtmf("0", mode="info"), Pause(45000 + NOTICE_S * 1000),
                             Hangup()]
        c, frames = await heard_call(harness, caller, steps, local_port)
    finally:
        queues.save_queue({**base, **before}, actor="test")
        await pusher.push()

    story = "\n".join(f"{e.at:%H:%M:%S.%f} {e.kind} {dict(e.data)}" for e in c.events)
    assert events_of(c, "transfer") == [{"node": "agent", "queue": "consult"}], story
    assert c.queue == "consult"
    assert c.agent is None
    channel = str(events_of(c, "call_started")[0]["channel"])
    log = await asyncio.to_thread(log_since, log_file, log_start)
    played = played_on(log, channel)
    files = [p.file for p in played]

    # no English anywhere: every sound in Mandarin, from our zh folder (our WAVs play as
    # slin; Asterisk's English core sounds are GSM)
    assert played, log[-2000:]
    assert {p.language for p in played} == {"zh"}, played
    assert [p for p in played if p.format != "slin"] == [], played
    assert [f for f in files if not resolved_in_zh(f)] == [], files
    # the menu, then the queue at once: 您现在排在第二位。预计等待时间约为 <n> 秒 (or 分钟)。
    # 感谢您的耐心等待。 Again every ANNOUNCE_EVERY_S; the callback offer after
    # CALLBACK_OFFER_AFTER_S; 您现在排在第一位… once the caller ahead has left
    assert files[:1] == ["welcome"], files
    # consult records (its `record` switch, on by default): the notice comes first, once
    notice = files.index("transfer_agent") + 1
    assert files[notice] == "recording_notice", files
    assert files.count("recording_notice") == 1, files
    queue_part = files[notice + 1:]
    assert queue_part[:4] == ["queue-thereare", "digits/2", "queue-callswaiting",
                              "queue-holdtime"], files
    unit = next(i for i, f in enumerate(queue_part) if f in ("queue-seconds", "queue-minutes",
                                                              "queue-minute"))
    wait = queue_part[4:unit]
    assert wait, files
    assert all(f.startswith("digits/") for f in wait), files
    assert "queue-thankyou" in queue_part[unit:unit + 4], files
    assert queue_part.count("queue-thereare") >= 2, files
    assert "queue_callback_offer" in queue_part, files
    assert "queue-youarenext" in queue_part[queue_part.index("queue_callback_offer"):], files

    # music between the announcements: the hotline's class, and the caller hears it
    windows = moh.windows(channel)
    assert len(windows) >= 3, moh.events
    assert {klass for _s, _e, klass in windows} == {"hotline"}, moh.events
    assert f"Started music on hold, class 'hotline', on channel '{channel}'" in log
    for start, stop, _klass in windows:
        if stop - start < 2:
            continue  # the last stretch may be cut short by the hang-up
        heard = level(frames, start + 0.3, stop, SOUND)
        assert heard.frames > 0.8 * (stop - start - 0.3) / 0.02, (start, stop, heard)
        assert heard.loud > 0.7 * heard.frames, (start, stop, heard)
