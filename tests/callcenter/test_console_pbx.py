"""The console against the running app and the real Asterisk, in a real browser (Chromium).

* an agent logs in and goes ready; a SIPp caller presses 0; the agent's SIPp phone rings and the
  console shows the call card with the IVR path; the agent answers, writes notes, sets a
  disposition and transfers to the expert seat, where a second SIPp phone answers; after the
  hang-up the contact shows both agents, the notes and the disposition (screenshots saved);
* a supervisor pauses an agent from the board: Asterisk reports the member paused with reason;
* Asterisk restarts during the shift: the agents' states are restored in Asterisk.

Each runs against a `hotline serve` on SQLite and on PostgreSQL (the `live_server` fixture).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from callcenter.settings import PROJECT_ROOT
from ivr.ami.client import AmiClient
from ivr.pbx.sipp import Dtmf, Pause, SippRunner
from tests.callcenter.browser import UI_TIMEOUT_MS, login
from tests.callcenter.conftest import LiveServer
from tests.callcenter.util import bearer, channels, members, wait_for
from tests.support import TEST_PORTS

# each test starts with every agent logged out (the server is shared by the module)
# on both databases (issue 13): the console and the desk write most of what a call leaves
pytestmark = [pytest.mark.asterisk, pytest.mark.sqlite_calls,
              pytest.mark.usefixtures("everyone_logged_out")]

SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"


async def test_call_transferred_to_the_expert_seat_in_the_console(
        live_server: LiveServer, ami: AmiClient, browser: Browser) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    http = live_server.client()
    runner = SippRunner(live_server.pbx.root, TEST_PORTS.sip)
    agent_phone = runner.start_agent(TEST_PORTS.agent(1), ring_ms=2000, talk_ms=90_000)
    expert_phone = runner.start_agent(TEST_PORTS.agent(2), ring_ms=500, talk_ms=4000)
    caller: Any = None
    page = await browser.new_page(locale="zh-CN", viewport={"width": 1280, "height": 900})
    try:
        # the agent logs in and goes ready: Asterisk has the member, unpaused
        await login(page, live_server, "agent1")
        await expect(page.locator("#state-label")).to_have_text("未签入")
        await page.click("#btn-ready")
        await expect(page.locator("#state-label")).to_have_text("就绪")
        present = await members(ami)
        assert present[("consult", "agent1")]["paused"] == "0"
        # the expert is ready on the expert seat (through the API)
        expert = bearer(live_server.token("expert1"))
        response = await http.post("/api/v1/agents/me/state",
                              json={"state": "ready"}, headers=expert)
        assert response.status_code == 200, response.text
        assert ("experts", "expert1") in await members(ami)

        # a caller presses 0 after the welcome
        caller = runner.start_call([Pause(7000), Dtmf("0")], TEST_PORTS.caller,
                                   number="13900000501", timeout_s=120)
        card = page.locator("#call-card")
        await expect(card).to_be_visible(timeout=UI_TIMEOUT_MS)
        await expect(page.locator("#card-caller")).to_have_text("13900000501")
        # the path by the menu's Chinese node titles (welcome: 欢迎语)
        await expect(page.locator("#card-path")).to_contain_text("欢迎语 → 服务时间判断")
        await expect(page.locator("#card-status")).to_have_text("通话中",
                                                                timeout=UI_TIMEOUT_MS)
        await expect(page.locator("#state-label")).to_have_text("通话中")
        await page.screenshot(path=str(SCREENSHOTS / "console-call-card.png"), full_page=True)

        await page.fill("#notes", "咨询小规模纳税人增值税征收率，已转专家坐席")
        await page.select_option("#disposition", "transferred")
        await page.click("#btn-save-note")
        await expect(page.locator("#note-status")).to_have_text("小结已保存")
        # a complaint ticket from the call, taken by the agent in the work list
        await page.select_option("#ticket-kind", "complaint")
        await page.click("#btn-ticket")
        await expect(page.locator("#ticket-status")).to_contain_text("已创建")
        ticket_no = (await page.locator("#ticket-status").inner_text()).split()[1]
        ticket_row = page.locator(f'#tickets-table tr[data-ticket="{ticket_no}"]')
        await expect(ticket_row).to_contain_text("（未分派）")
        await ticket_row.locator(".ticket-take").click()
        await expect(ticket_row).to_contain_text("agent1")
        await page.select_option("#transfer-queue", "experts")
        await page.click("#btn-transfer")
        await expect(page.locator("#transfer-status")).to_have_text("已转接至专家坐席")

        # agent1's phone is hung up by the transfer: their call is over at once (Asterisk's
        # AgentComplete comes only with the caller's hang-up); wrap-up, the card follows
        await expect(page.locator("#state-label")).not_to_have_text("通话中",
                                                                    timeout=UI_TIMEOUT_MS)
        # the expert answers, talks 4 s and hangs up; the caller, back in the menu for the
        # survey, hangs up there; the console shows the finished contact
        last = page.locator("#last-call")
        await expect(last).to_be_visible(timeout=UI_TIMEOUT_MS)
        await expect(page.locator("#last-agents")).to_have_text("agent1、expert1",
                                                                timeout=UI_TIMEOUT_MS)

        async def in_the_survey() -> list[str]:
            return [c["Channel"] for c in await channels(ami)
                    if c["Channel"].startswith("PJSIP/caller-") and c.get("Application") == "AGI"]

        for channel in await wait_for(in_the_survey, 60, "the caller back in the menu"):
            await ami.send_action({"Action": "Command",
                                   "Command": f"channel request hangup {channel}"})
        await expect(page.locator("#last-outcome")).to_have_text("人工接听",
                                                                 timeout=UI_TIMEOUT_MS)
        await expect(page.locator("#last-notes")).to_contain_text("已转专家坐席")
        await expect(page.locator("#last-disposition")).to_have_text("已转接")
        await page.screenshot(path=str(SCREENSHOTS / "console-after-transfer.png"),
                              full_page=True)
        # wrap-up ends by itself (2 s here): ready again
        await expect(page.locator("#state-label")).to_have_text("就绪", timeout=UI_TIMEOUT_MS)

        # the contact, as the supervisor reads it from the API
        sup = bearer(live_server.token("sup1"))
        page_ = (await http.get("/api/v1/contacts",
                          params={"caller": "13900000501"}, headers=sup)).json()
        detail = (await http.get(f"/api/v1/contacts/{page_['items'][0]['id']}",
                           headers=sup)).json()
        assert detail["agents"] == ["agent1", "expert1"]
        assert detail["outcome"] == "answered"
        kinds = [e["kind"] for e in detail["events"]]
        assert "agent_transfer" in kinds
        assert kinds.count("agent_connected") == 2
        notes = (await http.get(f"/api/v1/calls/{detail['linkedid']}/notes",
                          headers=sup)).json()
        assert [(n["username"], n["disposition"]) for n in notes] == [
            ("agent1", "transferred")]
        tickets = [e["data"] for e in detail["events"] if e["kind"] == "ticket"]
        assert [(t["ticket_no"], t["type"]) for t in tickets] == [(ticket_no, "complaint")]
        ticket = (await http.get(f"/api/v1/tickets/{ticket_no}", headers=sup)).json()
        assert ticket["owner"] == "agent1"
        assert ticket["caller"] == "13900000501"
        assert ticket["summary"] == "咨询小规模纳税人增值税征收率，已转专家坐席"
    finally:
        await page.close()
        for proc in (agent_phone, expert_phone, caller):
            if proc is not None:
                runner.stop(proc)
        await http.aclose()
        with_log = live_server.log_tail()
        assert "Traceback" not in with_log, with_log


async def test_supervisor_pauses_an_agent_from_the_board(
        live_server: LiveServer, ami: AmiClient, browser: Browser) -> None:
    http = live_server.client()
    agent = bearer(live_server.token("agent1"))
    response = await http.post("/api/v1/agents/me/state",
                          json={"state": "ready"}, headers=agent)
    assert response.status_code == 200, response.text
    page = await browser.new_page(locale="zh-CN", viewport={"width": 1280, "height": 800})
    try:
        await login(page, live_server, "sup1")
        row = page.locator('#board-agents tr[data-username="agent1"]')
        await expect(row).to_have_attribute("data-state", "ready")
        await row.locator(".board-reason").select_option("meeting")
        await row.locator(".board-pause").click()
        await expect(row).to_have_attribute("data-state", "paused")
        await expect(row).to_contain_text("会议")
        await page.screenshot(path=str(SCREENSHOTS / "console-supervisor-board.png"),
                              full_page=True)
    finally:
        await page.close()
    member = (await members(ami))[("consult", "agent1")]
    assert member["paused"] == "1"
    assert member["pausedreason"] == "会议"
    # the agent cannot be made ready by the supervisor (only paused / logged out)
    sup = bearer(live_server.token("sup1"))
    refused = await http.post("/api/v1/agents/agent1/state",
                         json={"state": "ready"}, headers=sup)
    assert refused.status_code == 403
    await http.aclose()


async def test_agent_states_are_restored_after_asterisk_restarts(
        live_server: LiveServer, ami: AmiClient) -> None:
    http = live_server.client()
    agent = bearer(live_server.token("agent1"))
    expert = bearer(live_server.token("expert1"))
    assert (await http.post("/api/v1/agents/me/state", json={"state": "ready"},
                      headers=agent)).status_code == 200
    assert (await http.post("/api/v1/agents/me/state", json={"state": "ready"},
                      headers=expert)).status_code == 200
    assert (await http.post("/api/v1/agents/me/state",
                      json={"state": "paused", "reason": "training"},
                      headers=expert)).status_code == 200
    await asyncio.to_thread(live_server.pbx.restart)
    await ami.wait_ready(60)

    async def restored() -> dict[tuple[str, str], dict[str, str]] | None:
        found = await members(ami)
        ok = (found.get(("consult", "agent1"), {}).get("paused") == "0"
              and found.get(("experts", "expert1"), {}).get("pausedreason") == "培训")
        return found if ok else None

    found = await wait_for(restored, 60, "agent1 ready and expert1 paused (培训) again")
    assert found[("experts", "expert1")]["paused"] == "1"
    # the queue configuration of the database was written again (the restart wiped it)
    config = await ami.send_action({"Action": "GetConfig", "Filename": "queues_hotline.conf"})
    categories = {str(v) for k, v in dict(config).items() if k.startswith("Category-")}
    assert {"consult", "experts", "tax-vat", "tax-iit", "tax-invoice", "tax-ssc"} <= categories
    me = (await http.get("/api/v1/agents/me", headers=agent)).json()
    assert me["state"] == "ready"
    await http.aclose()


async def test_overflow_and_the_callback_offer_in_asterisk(
        live_server: LiveServer, ami: AmiClient) -> None:
    """A caller waits in tax-vat past its overflow threshold, moves to consult, and presses 1
    there (the callback offer): a callback request is created for the caller's number."""
    http = live_server.client()
    admin = bearer(live_server.token("admin1"))
    response = await http.put("/api/v1/queues/tax-vat", headers=admin, json={
        "title": "增值税", "skill": "vat", "overflow_to": "consult", "overflow_after_s": 10,
        "callback_offer_after_s": 15})
    assert response.status_code == 200, response.text

    async def pushed() -> bool:
        # the save pushes when the server's AMI is up, else at its next connection: make
        # sure Asterisk has the thresholds before the call (CI: saved during a reconnection)
        push = await http.post("/api/v1/queues/push", headers=admin)
        return push.status_code == 200 and bool(push.json()["pushed"])

    await wait_for(pushed, 30, "the queue thresholds pushed to Asterisk")
    number = "13900000777"
    response = await ami.send_action({
        # the Local channel's far leg answers and keys 1 after 26 s; its near leg waits:
        # the recording notice (about 5 s, 6 s under load; a key during it is lost), 10 s in
        # tax-vat (expiry is seen only after the position announcement ends), then consult
        # (no second notice: the call is recorded already), where the key ends the wait
        "Action": "Originate", "Channel": "Local/s@dtmf-injector",
        "Context": "hotline-queue", "Exten": "tax-vat", "Priority": "1", "Async": "true",
        "CallerID": number, "Variable": ["DIGITS=1", "WAIT=26", "HOLD=10"]})
    assert str(response.get("Response")) == "Success", response
    sup = bearer(live_server.token("sup1"))

    async def callback() -> list[dict[str, Any]]:
        rows = (await http.get("/api/v1/callbacks", headers=sup)).json()
        return [r for r in rows if r["number"] == number]

    rows = await wait_for(callback, 60, "the callback request of the caller")
    assert rows[0]["status"] == "pending"
    # the caller was put into tax-vat: a request made in consult proves the overflow (the
    # test's own AMI events are no proof: its connection missed the join once in CI)
    assert "consult" in rows[0]["reason"]
    await http.aclose()


async def test_admin_creates_an_agent_in_the_console(live_server: LiveServer,
                                                     browser: Browser) -> None:
    page = await browser.new_page(locale="zh-CN", viewport={"width": 1280, "height": 1000})
    try:
        await login(page, live_server, "admin1")
        form = page.locator("#user-form")
        await form.locator('input[name="username"]').fill("agent4")
        await form.locator('input[name="display_name"]').fill("王芳")
        await form.locator('input[name="password"]').fill("short")
        await form.locator('select[name="role"]').select_option("agent")
        await form.locator('input[name="interface"]').fill("PJSIP/agent3")
        await form.locator('button[type="submit"]').click()
        await expect(page.locator("#admin-status")).to_contain_text("密码至少需要10个字符")
        await form.locator('input[name="password"]').fill("agent4-pw-2026")
        await form.locator('button[type="submit"]').click()
        await expect(page.locator("#admin-status")).to_contain_text("密码不能包含用户名")
        await form.locator('input[name="password"]').fill("wang-fang-2026")
        await form.locator('button[type="submit"]').click()
        await expect(page.locator("#admin-status")).to_have_text("用户 agent4 已创建")
        await expect(page.locator("#users-table")).to_contain_text("王芳")
        await page.screenshot(path=str(SCREENSHOTS / "console-admin.png"), full_page=True)
    finally:
        await page.close()
    # the new agent logs in with that password
    assert live_server.token("agent4", "wang-fang-2026")
