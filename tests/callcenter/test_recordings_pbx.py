"""A recorded agent call through the real Asterisk, and who may listen to it (API, browser).

A SIPp caller presses 0; the queue records (AstDB ``hotline/consult-record`` = 1, as the queue
push writes it): the caller hears the recording notice, a SIPp agent phone answers and talks
(SIPp's sample of speech) and hangs up. Asterisk's MixMonitor leaves ``call-<linkedid>.wav`` in
the recordings store, the dialplan's UserEvent a row on the contact; the API serves it to a
supervisor (audited) and to the agent who took the call, and refuses another agent (403, in
Chinese, also audited), and in the console (Chromium) the supervisor plays it. The expert leg
of a transferred call goes on in the same file. And the whole production path once through
`hotline serve` (its queue push, its watcher, its API).
"""

from __future__ import annotations

import asyncio
import math
import wave
from array import array
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.async_api import expect

from callcenter.app import create_app
from callcenter.auth.services import UserService
from callcenter.contacts.services import ContactFilters
from callcenter.db import Database
from callcenter.recordings.services import RecordingService, RecordingWatcher
from callcenter.settings import PROJECT_ROOT, Settings
from ivr.pbx.sipp import AGENT_SPEECH_S, Dtmf, Pause, SippRunner
from tests.callcenter.browser import UI_TIMEOUT_MS, chromium
from tests.callcenter.conftest import LiveServer
from tests.callcenter.util import PASSWORD, bearer, token_for, wait_for
from tests.conftest import Harness, events_of
from tests.support import CALL_LIMIT_S, HTTP_TEST_PORT, SUITE_CLOCK, TEST_PORTS, serving_app

pytestmark = pytest.mark.asterisk

SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"

TALK_MS = 5000  # shorter than the agent's speech: audio flows the whole time they talk
CALLER = "13900000701"
TRANSFERRED = "13900000702"
EXPERT_TALK_MS = 3000


async def set_recording(harness: Harness, queues: tuple[str, ...], on: bool) -> None:
    """The AstDB keys the queue push writes (on), or none, as a fresh sandbox has them (its
    AstDB lives as long as the test session)."""
    for queue in queues:
        action = {"Family": "hotline", "Key": f"{queue}-record"}
        await harness.ami.send_action({"Action": "DBPut", **action, "Val": "1"} if on else
                                      {"Action": "DBDel", **action})


def loudness(path: Path) -> tuple[float, float]:
    """(seconds, RMS of the loudest second) of a 16-bit mono WAV."""
    with wave.open(str(path), "rb") as audio:
        assert (audio.getnchannels(), audio.getsampwidth()) == (1, 2)
        rate = audio.getframerate()
        frames = audio.readframes(audio.getnframes())
    samples = array("h", frames)
    loudest = max((math.sqrt(sum(x * x for x in samples[i:i + rate]) / len(samples[i:i + rate]))
                   for i in range(0, len(samples), rate)), default=0.0)
    return len(samples) / rate, loudest


async def test_a_recorded_agent_call_is_served_to_a_supervisor_and_audited(
        harness: Harness, db_url: str, clean_users: Database) -> None:
    ami = harness.ami
    await set_recording(harness, ("consult",), True)
    store = harness.pbx.recordings_dir
    service = RecordingService(harness.contacts.db, store, SUITE_CLOCK, retention_days=30,
                               agents_own=True)
    watcher = RecordingWatcher(service, ami)
    try:
        await harness.add_agent(1, ring_ms=500, talk_ms=TALK_MS, speaks=True)
        result = await harness.call([Pause(7000), Dtmf("0", mode="rfc2833")],
                                    TEST_PORTS.sip + 20, CALLER, "12366", CALL_LIMIT_S)
        assert result.ok, result.stderr[-500:]
        contact = await harness.wait_contact(CALLER)
    finally:
        await set_recording(harness, ("consult",), False)
    story = "\n".join(f"{e.at:%H:%M:%S.%f} {e.kind} {dict(e.data)}" for e in contact.events)
    assert contact.outcome == "answered", story
    assert contact.agents() == ["agent1"], story
    assert events_of(contact, "agent_connected"), story
    assert contact.talk_seconds is not None

    # the row on the contact, and the file Asterisk wrote: the talk, with the agent's speech
    assert watcher.registered == 1
    rows = service.of_contact(contact.linkedid)
    assert [(r.kind, r.queue, r.available) for r in rows] == [("call", "consult", True)], rows
    file = store / f"call-{contact.linkedid}.wav"
    assert file.is_file()
    seconds, loudest = loudness(file)
    # only the bridged talk is recorded (no notice, no queue music): about the contact's talk
    # time, which is shorter than the agent's speech
    assert abs(seconds - contact.talk_seconds) < 1.5, (seconds, contact.talk_seconds)
    assert seconds < AGENT_SPEECH_S
    assert rows[0].seconds == pytest.approx(seconds, abs=0.01)
    assert loudest > 500, loudest  # speech, not silence (digital silence is 0)

    # the API: a supervisor listens (audited); the agent who took it may (agents_own); another
    # agent may not, told why in Chinese (audited as refused)
    settings = Settings(database_url=db_url, ami_enabled=False, kb_enabled=False,
                        recordings_dir=store, recordings_agents_own=True)
    db = clean_users
    sup = bearer(token_for(db, "sup1", "supervisor"))
    own = bearer(token_for(db, "agent1", "agent", interface="PJSIP/agent1"))
    other = bearer(token_for(db, "agent9", "agent", interface="PJSIP/agent9"))
    with TestClient(create_app(settings, SUITE_CLOCK), base_url="https://testserver") as client:
        listed = client.get(f"/api/v1/contacts/{contact.id}/recordings", headers=sup)
        assert listed.status_code == 200, listed.text
        [item] = listed.json()
        assert item["kind"] == "call"
        assert item["available"] is True
        assert item["playable"] is True
        assert item["bytes"] == file.stat().st_size
        audio = client.get(item["audio_url"], headers=sup)
        assert audio.status_code == 200, audio.text
        assert audio.headers["content-type"] == "audio/wav"
        assert audio.content == file.read_bytes()
        assert client.get(item["audio_url"], headers=own).status_code == 200
        refused = client.get(item["audio_url"], headers=other)
        assert refused.status_code == 403
        assert refused.json()["detail"] == "只能收听本人接听过的通话录音"
        assert client.get(f"/api/v1/contacts/{contact.id}/recordings",
                          headers=other).status_code == 403
    audit = UserService(db, SUITE_CLOCK).audit_log(action="recording.play")
    assert [(a.actor, a.target, a.detail["linkedid"]) for a in reversed(audit)] == [
        ("sup1", str(item["id"]), contact.linkedid),
        ("agent1", str(item["id"]), contact.linkedid)]
    [denied] = UserService(db, SUITE_CLOCK).audit_log(action="recording.refused")
    assert (denied.actor, denied.detail["reason"]) == ("agent9", "只能收听本人接听过的通话录音")

    # the supervisor finds the caller's recording in the console and plays it (Chromium):
    # the player holds the whole file, and the browser's fetch is in the audit log too
    with serving_app(create_app(settings, SUITE_CLOCK), HTTP_TEST_PORT + 7) as base:
        async with chromium() as browser:
            page = await browser.new_page(locale="zh-CN")
            await page.goto(f"{base}/console")
            await page.fill("#login-username", "sup1")
            await page.fill("#login-password", PASSWORD)
            await page.click("#login-submit")
            await expect(page.locator("#recordings-panel")).to_be_visible()
            await page.fill("#recordings-caller", CALLER)
            await page.click("#recordings-form button")
            entry = page.locator(f'#recordings-results li[data-recording="{item["id"]}"]')
            await expect(entry).to_contain_text("通话录音（", timeout=UI_TIMEOUT_MS)
            await expect(entry).to_contain_text(f"{item['seconds']:.1f} 秒")
            duration = await entry.locator("audio").evaluate(
                "async (a) => { await a.play(); a.pause(); return a.duration; }")
            assert duration == pytest.approx(seconds, abs=0.05)
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOTS / "console-recordings.png"),
                                  full_page=True)
    played = UserService(db, SUITE_CLOCK).audit_log(action="recording.play")
    assert [a.actor for a in played].count("sup1") >= 2, [a.actor for a in played]


async def test_the_expert_leg_of_a_transferred_call_goes_on_in_the_same_file(
        harness: Harness) -> None:
    """agent1 answers and talks; the caller is sent to the expert seat (the desk's Redirect to
    hotline-queue,experts) where agent2 answers and talks 3 s: one row, one file holding both
    legs, no second notice."""
    await set_recording(harness, ("consult", "experts"), True)
    store = harness.pbx.recordings_dir
    service = RecordingService(harness.contacts.db, store, SUITE_CLOCK, retention_days=30)
    RecordingWatcher(service, harness.ami)
    try:
        await harness.add_agent(1, ring_ms=500, talk_ms=60_000, speaks=True)
        await harness.add_agent(2, queue="experts", ring_ms=500, talk_ms=EXPERT_TALK_MS,
                                speaks=True)
        call = asyncio.ensure_future(harness.call(
            [Pause(7000), Dtmf("0", mode="rfc2833")], TEST_PORTS.sip + 21, TRANSFERRED,
            "12366", CALL_LIMIT_S))

        async def answered() -> str | None:
            """The caller's channel once agent1 is connected to it."""
            await harness.log.flush()
            _total, rows = await asyncio.to_thread(
                harness.contacts.search, ContactFilters(caller=TRANSFERRED), 1, 0)
            contact = harness.contacts.get(rows[0].id) if rows else None
            if contact is None or not events_of(contact, "agent_connected"):
                return None
            return str(events_of(contact, "call_started")[0]["channel"])

        channel = await wait_for(answered, 90, "agent1 answering")
        await asyncio.sleep(2)  # they talk a while
        response = await harness.driver.send_action({
            "Action": "Redirect", "Channel": channel, "Context": "hotline-queue",
            "Exten": "experts", "Priority": "1"})
        assert str(response.get("Response")) == "Success", response
        result = await call
        assert result.ok, result.stderr[-500:]
        contact = await harness.wait_contact(TRANSFERRED)
    finally:
        await set_recording(harness, ("consult", "experts"), False)
    story = "\n".join(f"{e.at:%H:%M:%S.%f} {e.kind} {dict(e.data)}" for e in contact.events)
    assert contact.agents() == ["agent1", "agent2"], story
    rows = service.of_contact(contact.linkedid)
    assert [(r.queue, r.available) for r in rows] == [("consult", True)], rows
    seconds, loudest = loudness(store / f"call-{contact.linkedid}.wav")
    # both legs, as the timeline has them: agent1 from the answer to the caller joining the
    # expert seat, then agent2 from the answer to the end of their talk (the contact's
    # talk_seconds cannot say it: app_queue's TalkTime of agent1 runs to the caller's hang-up)
    moments = {(e.kind, e.data.get("queue")): e.at for e in contact.events}
    first = moments[("queue_joined", "experts")] - moments[("agent_connected", "consult")]
    second = moments[("agent_completed", "experts")] - moments[("agent_connected", "experts")]
    legs = first.total_seconds() + second.total_seconds()
    assert seconds > 2 + EXPERT_TALK_MS / 1000 - 0.5, (seconds, story)
    assert abs(seconds - legs) < 1.0, (seconds, legs, story)
    assert loudest > 500, loudest


async def test_hotline_serve_records_a_queue_call_end_to_end(
        live_server: LiveServer, everyone_logged_out: None) -> None:
    """The production path: `hotline serve` pushes the queues (consult records by default),
    its own watcher adds the row, its API serves the file; agents may not listen by default."""
    http = live_server.client()
    runner = SippRunner(live_server.pbx.root, TEST_PORTS.sip)
    phone = runner.start_agent(TEST_PORTS.agent(1), ring_ms=500, talk_ms=4000, speaks=True)
    caller = "13900000703"
    try:
        agent = bearer(live_server.token("agent1"))
        response = await http.post("/api/v1/agents/me/state", json={"state": "ready"},
                                   headers=agent)
        assert response.status_code == 200, response.text
        result = await asyncio.to_thread(runner.call, [Pause(7000), Dtmf("0")],
                                         TEST_PORTS.caller, caller, "12366", 120)
        assert result.ok, result.stderr[-500:]
    finally:
        runner.stop(phone)
    sup = bearer(live_server.token("sup1"))

    async def ended() -> dict[str, Any] | None:
        page = (await http.post("/api/v1/contacts/search", json={"caller": caller},
                                headers=sup)).json()
        done = [c for c in page["items"] if c["ended_at"]]
        return done[0] if done else None

    contact = await wait_for(ended, 60, "the contact", seen=lambda: _log_tail(live_server))
    assert contact["outcome"] == "answered", contact
    listed = (await http.get(f"/api/v1/contacts/{contact['id']}/recordings",
                             headers=sup)).json()
    assert [(r["kind"], r["queue"], r["available"], r["playable"]) for r in listed] == [
        ("call", "consult", True, True)], (listed, live_server.log_tail())
    assert 3.0 < listed[0]["seconds"] < 6.0, listed
    audio = await http.get(listed[0]["audio_url"], headers=sup)
    assert audio.status_code == 200
    assert audio.headers["content-type"] == "audio/wav"
    assert audio.content[:4] == b"RIFF"
    # the agent who took it, with HOTLINE_RECORDINGS_AGENTS_OWN off (the default)
    mine = (await http.get(f"/api/v1/contacts/{contact['id']}/recordings",
                           headers=agent)).json()
    assert [r["playable"] for r in mine] == [False]
    refused = await http.get(listed[0]["audio_url"], headers=agent)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "只有班长和管理员可以收听录音"


async def _log_tail(server: LiveServer) -> str:
    return server.log_tail()
