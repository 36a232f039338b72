"""Outbound callbacks through the real Asterisk, SIPp phones and a `hotline serve`.

The dialler offers a due callback to the ready agent; once accepted it Originates the agent's
SIPp phone (agent first), then the dialplan dials the number through the sandbox's callback
trunk (``PJSIP/<number>@callee``), where a SIPp callee answers: its SIP trace holds the INVITE
for the number, from 12366. A second request meets a callee that lets it ring out, then one
that answers busy, and is retried each time until a third callee answers. Every attempt is a
contact with direction ``outbound``; /stats/outbound counts them apart. And in the browser
(Chromium): the preview card with the masked number and the caller's reason, 立即回拨, the call
connected and ended, 号码错误.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, expect

from callcenter.settings import PROJECT_ROOT
from ivr.pbx.sandbox import AsteriskSandbox
from ivr.pbx.sipp import SippRunner
from tests.callcenter.browser import UI_TIMEOUT_MS
from tests.callcenter.conftest import ALWAYS_OPEN, LiveServer, log_everyone_out, seed_live_users
from tests.callcenter.util import PASSWORD, bearer, wait_for
from tests.conftest import DATABASES, fresh_database
from tests.support import HTTP_TEST_PORT, SUITE_CLOCK, TEST_PORTS, serve_env, serving

pytestmark = [pytest.mark.asterisk, pytest.mark.sqlite_calls]

SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"
RETRY_S = 3    # the server's retry interval (its own clock runs on from the suite's)
RING_S = 6     # how long the number may ring


@pytest.fixture(scope="module", params=DATABASES)
def outbound_server(request: pytest.FixtureRequest, pbx: AsteriskSandbox,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`hotline serve` whose callbacks fall due at once and are retried after RETRY_S."""
    tmp = tmp_path_factory.mktemp("outbound")
    with fresh_database(request.param, tmp) as db_url:
        seed_live_users(db_url)
        env = serve_env(db_url, ALWAYS_OPEN, HOTLINE_KB_ENABLED="false",
                        HOTLINE_WRAPUP_SECONDS="1", HOTLINE_CALLBACK_DUE_HOURS="0",
                        HOTLINE_CALLBACK_PREVIEW_S="120", HOTLINE_CALLBACK_RING_S=str(RING_S),
                        HOTLINE_CALLBACK_RETRY_INTERVALS_S=f"[{RETRY_S}]",
                        HOTLINE_CALLBACK_MAX_ATTEMPTS="3")
        log_path = tmp / "serve.log"
        with serving(env, HTTP_TEST_PORT + 2, log_path) as base:
            server = LiveServer(base, db_url, pbx, log_path)
            log_everyone_out(server)
            yield server
            log_everyone_out(server)


@pytest.fixture(autouse=True)
def _everyone_logged_out(outbound_server: LiveServer) -> Iterator[None]:
    """Each test starts with every agent logged out (the server is shared by the module)."""
    log_everyone_out(outbound_server)
    yield
    log_everyone_out(outbound_server)


@pytest.fixture
async def http(outbound_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with outbound_server.client() as client:
        yield client


class Phones:
    """The agent's and the callees' SIPp phones of one test (stopped at its end)."""

    def __init__(self, server: LiveServer, name: str) -> None:
        self.runner = SippRunner(server.pbx.root, TEST_PORTS.sip)
        self.traces = server.pbx.root / "opt/hotline/sipp"
        self.name = name
        self.procs: list[subprocess.Popen[str]] = []
        self.n = 0

    def trace(self) -> Path:
        self.n += 1
        path = self.traces / f"{self.name}-{self.n}.msg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        return path

    def agent(self, calls: int, talk_ms: int = 60_000) -> Path:
        trace = self.trace()
        self.procs.append(self.runner.start_agent(TEST_PORTS.agent(1), ring_ms=500,
                                                  talk_ms=talk_ms, calls=calls,
                                                  messages=trace))
        return trace

    def callee(self, mode: str, talk_ms: int = 3000) -> Path:
        trace = self.trace()
        if mode == "answer":
            proc = self.runner.start_agent(TEST_PORTS.callee, ring_ms=1000, talk_ms=talk_ms,
                                           messages=trace)
        else:
            proc = self.runner.start_refusing(TEST_PORTS.callee, busy=mode == "busy",
                                              messages=trace)
        self.procs.append(proc)
        return trace

    def stop(self) -> None:
        for proc in self.procs:
            SippRunner.stop(proc)


async def ready(http: httpx.AsyncClient, server: LiveServer) -> dict[str, str]:
    agent = bearer(server.token("agent1"))
    response = await http.post("/api/v1/agents/me/state", json={"state": "ready"},
                               headers=agent)
    assert response.status_code == 200, response.text
    return agent


async def request_callback(http: httpx.AsyncClient, server: LiveServer, number: str) -> int:
    sup = bearer(server.token("sup1"))
    response = await http.post("/api/v1/callbacks", headers=sup,
                               json={"number": number, "reason": "坐席预约回电"})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def callback(http: httpx.AsyncClient, server: LiveServer, callback_id: int
                   ) -> dict[str, Any]:
    sup = bearer(server.token("sup1"))
    listed = (await http.get("/api/v1/callbacks", headers=sup)).json()
    return next(c for c in listed if c["id"] == callback_id)


async def status_is(http: httpx.AsyncClient, server: LiveServer, callback_id: int,
                    *statuses: str, timeout: float = 60) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        found = await callback(http, server, callback_id)
        return found if found["status"] in statuses else None

    async def seen() -> Any:
        return (await callback(http, server, callback_id), server.log_tail()[-1500:])

    result: dict[str, Any] = await wait_for(check, timeout, f"callback {statuses}", seen)
    return result


async def outbound_contacts(http: httpx.AsyncClient, server: LiveServer, number: str
                            ) -> list[dict[str, Any]]:
    sup = bearer(server.token("sup1"))
    page = (await http.get("/api/v1/contacts", params={"caller": number},
                           headers=sup)).json()
    return sorted((c for c in page["items"] if c["direction"] == "outbound"),
                  key=lambda c: c["started_at"])


async def test_a_due_callback_is_dialled_agent_first_and_answered_by_the_callee(
        outbound_server: LiveServer, http: httpx.AsyncClient) -> None:
    server, number = outbound_server, "13900000801"
    phones = Phones(server, "cb-answer")
    try:
        agent_trace = phones.agent(calls=1)
        callee_trace = phones.callee("answer", talk_ms=3000)
        agent = await ready(http, server)
        callback_id = await request_callback(http, server, number)
        offered = await status_is(http, server, callback_id, "offered")
        assert offered["offered_to"] == "agent1"
        accepted = await http.post(f"/api/v1/callbacks/{callback_id}/accept", headers=agent)
        assert accepted.status_code == 200, accepted.text
        done = await status_is(http, server, callback_id, "done")
        assert (done["result"], done["attempts"]) == ("reached", 1)
        # the callee really received the call: an INVITE for the number, from the hotline
        received = callee_trace.read_text(errors="replace")
        assert f"INVITE sip:{number}@127.0.0.1" in received
        assert re.search(r"^From: .*<sip:12366@", received, re.MULTILINE), received[:2000]
        # agent first: the agent's phone was called with the number being called back
        assert "INVITE sip:agent1@" in agent_trace.read_text(errors="replace")
        contacts = await wait_for(lambda: outbound_contacts(http, server, number), 20,
                                  "the outbound contact")
        assert len(contacts) == 1
        contact = contacts[0]
        assert (contact["outcome"], contact["agent"]) == ("answered", "agent1")
        assert contact["linkedid"] == done["attempt_linkedid"]
        assert contact["talk_seconds"] is not None
        assert contact["talk_seconds"] >= 2
        sup = bearer(server.token("sup1"))
        detail = (await http.get(f"/api/v1/contacts/{contact['id']}", headers=sup)).json()
        stages = [e["data"].get("stage") for e in detail["events"]
                  if e["kind"] == "callback_dial"]
        assert stages == ["offered", "agent_answered", "result"]
        # the agent wraps up, then is ready again
        await wait_for(lambda: _state(http, agent, "ready"), 30, "agent ready")
    finally:
        phones.stop()


async def _state(http: httpx.AsyncClient, agent: dict[str, str], state: str) -> bool:
    return bool((await http.get("/api/v1/agents/me", headers=agent)).json()["state"] == state)


async def test_a_callback_not_answered_then_busy_is_retried_until_answered(
        outbound_server: LiveServer, http: httpx.AsyncClient) -> None:
    server, number = outbound_server, "13900000802"
    phones = Phones(server, "cb-retry")
    try:
        phones.agent(calls=3)
        agent = await ready(http, server)
        rings_out = phones.callee("no_answer")
        callback_id = await request_callback(http, server, number)
        for expected in ("no_answer", "busy"):
            await status_is(http, server, callback_id, "offered")
            accepted = await http.post(f"/api/v1/callbacks/{callback_id}/accept",
                                       headers=agent)
            assert accepted.status_code == 200, accepted.text
            retried = await status_is(http, server, callback_id, "pending")
            assert retried["result"] == expected
            if expected == "no_answer":
                # the callee's phone rang and was cancelled when the ring time ran out
                trace = rings_out.read_text(errors="replace")
                assert f"INVITE sip:{number}@" in trace
                assert "CANCEL sip:" in trace
                phones.callee("busy")
        third = phones.callee("answer", talk_ms=2000)
        await status_is(http, server, callback_id, "offered")
        accepted = await http.post(f"/api/v1/callbacks/{callback_id}/accept", headers=agent)
        assert accepted.status_code == 200, accepted.text
        done = await status_is(http, server, callback_id, "done")
        assert (done["result"], done["attempts"]) == ("reached", 3)
        assert f"INVITE sip:{number}@" in third.read_text(errors="replace")
        contacts = await wait_for(
            lambda: _contacts_ended(http, server, number, 3), 20, "three outbound contacts")
        assert [c["outcome"] for c in contacts] == ["no_answer", "busy", "answered"]
        sup = bearer(server.token("sup1"))
        # the statistics' days are the centre's (Asia/Shanghai), not the machine's
        day = SUITE_CLOCK().astimezone(ZoneInfo("Asia/Shanghai")).date()
        stats = (await http.get("/api/v1/stats/outbound", headers=sup, params={
            "from": str(day), "to": str(day)})).json()
        assert stats["by_result"]["no_answer"] >= 1
        assert stats["by_result"]["busy"] >= 1
        assert stats["attempts"] >= 3
    finally:
        phones.stop()


async def _contacts_ended(http: httpx.AsyncClient, server: LiveServer, number: str,
                          count: int) -> list[dict[str, Any]] | None:
    contacts = await outbound_contacts(http, server, number)
    ended = [c for c in contacts if c["ended_at"] and c["outcome"]]
    return ended if len(ended) == count else None


async def test_the_preview_card_and_accept_in_the_console(
        outbound_server: LiveServer, http: httpx.AsyncClient, browser: Browser) -> None:
    server, number = outbound_server, "13900000803"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    phones = Phones(server, "cb-console")
    page = await browser.new_page(locale="zh-CN", viewport={"width": 1280, "height": 900})
    try:
        phones.agent(calls=1)
        callee_trace = phones.callee("answer", talk_ms=8000)
        await page.goto(f"{server.base}/console")
        await page.fill("#login-username", "agent1")
        await page.fill("#login-password", PASSWORD)
        await page.click("#login-submit")
        await expect(page.locator("#whoami")).to_be_visible()
        await page.click("#btn-ready")
        await expect(page.locator("#state-label")).to_have_text("就绪")
        callback_id = await request_callback(http, server, number)

        card = page.locator("#callback-card")
        await expect(card).to_be_visible(timeout=UI_TIMEOUT_MS)
        await expect(page.locator("#cb-number")).to_have_text("***0803")
        await expect(page.locator("#cb-reason")).to_have_text("坐席预约回电")
        await expect(page.locator("#cb-attempt")).to_contain_text("第 1 次")
        await expect(page.locator("#cb-status")).to_have_text("待确认")
        await expect(card).not_to_contain_text(number)   # the number stays masked
        await page.screenshot(path=str(SCREENSHOTS / "console-callback-preview.png"),
                              full_page=True)
        await page.click("#btn-cb-accept")
        await expect(page.locator("#cb-status")).to_have_text("已接通", timeout=UI_TIMEOUT_MS)
        await expect(page.locator("#state-label")).to_have_text("通话中", timeout=8000)
        await expect(page.locator("#cb-status")).to_have_text("已结束", timeout=UI_TIMEOUT_MS)
        await expect(page.locator("#cb-message")).to_contain_text("已接通")
        assert f"INVITE sip:{number}@" in callee_trace.read_text(errors="replace")
        await page.screenshot(path=str(SCREENSHOTS / "console-callback-done.png"),
                              full_page=True)
        # the agent found it was the wrong person: closed as 号码错误
        await page.click("#btn-cb-wrong")
        await expect(page.locator("#cb-message")).to_contain_text("已标记为号码错误")
        closed = await callback(http, server, callback_id)
        assert (closed["status"], closed["result"]) == ("failed", "wrong_number")
        contacts = await wait_for(lambda: _contacts_ended(http, server, number, 1), 20,
                                  "the outbound contact")
        assert contacts[0]["outcome"] == "wrong_number"
    finally:
        await page.close()
        phones.stop()
        await asyncio.sleep(0)
