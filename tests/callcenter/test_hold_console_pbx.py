"""Hold from the call card and listening from the board, in a real browser (Chromium), against
`hotline serve` and the real Asterisk with SIPp phones.

An agent answers a SIPp caller; on the card 保持 puts the call on hold (Asterisk shows the music
call whispering into the caller's channel) and 恢复通话 takes it back (the card says how long).
A supervisor, whose user record names the phone PJSIP/supervisor1 (a SIPp phone that answers),
clicks 监听 on the agent's row of the board: Asterisk shows that phone in ChanSpy on the agent's
channel, and the audit log has the row.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from ivr.ami.client import AmiClient
from ivr.pbx.sipp import Dtmf, Hangup, Pause, SippRunner
from tests.callcenter.browser import UI_TIMEOUT_MS, login
from tests.callcenter.conftest import LiveServer
from tests.callcenter.util import bearer, channels, wait_for
from tests.support import TEST_PORTS

pytestmark = [pytest.mark.asterisk, pytest.mark.usefixtures("everyone_logged_out")]


async def wind_down(ami: AmiClient, runner: SippRunner, phones: list[Any], pages: list[Page],
                    http: Any, admin: dict[str, str]) -> None:
    """Every call hung up, the SIPp phones and pages closed, and the desk sees no call."""
    await ami.send_action({"Action": "Command", "Command": "channel request hangup all"})
    for phone in phones:
        if phone is not None:
            result = runner.stop(phone)
            # shown with a failure: whether each phone ran, and what it saw
            args = [str(a) for a in phone.args]
            scenario, port = args[args.index("-sf") + 1], args[args.index("-p") + 1]
            print(f"SIPp {scenario} on port {port}: exit {result.returncode}:\n"
                  f"{result.stdout[-1500:]}{result.stderr[-1500:]}")
    for page in pages:
        await page.close()

    async def call_over() -> bool:
        board = (await http.get("/api/v1/agents/board", headers=admin)).json()
        return all(a["state"] not in ("ringing", "on_call") for a in board["agents"])

    await wait_for(call_over, 30, "the call over for the desk")


async def answered_call(live_server: LiveServer, runner: SippRunner, pages: dict[str, Page],
                        number: str, talk_ms: int) -> Any:
    """Each page's user (the first: the agent to answer) logged in and ready, then a SIPp
    caller who presses 0: its process once the first page's card says 通话中."""
    for name, page in pages.items():
        await login(page, live_server, name)
        await page.click("#btn-ready")
        await expect(page.locator("#state-label")).to_have_text("就绪")
    caller = runner.start_call([Pause(7000), Dtmf("0"), Pause(talk_ms), Hangup()],
                               TEST_PORTS.caller, number=number, timeout_s=120)
    first = next(iter(pages.values()))
    await expect(first.locator("#card-status")).to_have_text("通话中", timeout=UI_TIMEOUT_MS)
    return caller


async def audited(http: Any, admin: dict[str, str], action: str) -> list[dict[str, Any]]:
    """The audit log's rows of ``action``."""
    audit = (await http.get("/api/v1/audit", params={"action": action}, headers=admin)).json()
    rows: list[dict[str, Any]] = audit if isinstance(audit, list) else audit.get("items", [])
    return rows


async def test_hold_from_the_card_and_listen_from_the_board(
        live_server: LiveServer, ami: AmiClient, browser: Browser) -> None:
    http = live_server.client()
    admin = bearer(live_server.token("admin1"))
    phone = await http.patch("/api/v1/users/sup1", json={"interface": "PJSIP/supervisor1"},
                             headers=admin)
    assert phone.status_code == 200, phone.text
    runner = SippRunner(live_server.pbx.root, TEST_PORTS.sip)
    agent_phone = runner.start_agent(TEST_PORTS.agent(1), ring_ms=500, talk_ms=90_000,
                                     sends_silence=True)
    sup_phone = runner.start_agent(TEST_PORTS.supervisor, ring_ms=300, talk_ms=4000)
    caller: Any = None
    agent_page = await browser.new_page(locale="zh-CN")
    sup_page = await browser.new_page(locale="zh-CN")
    try:
        caller = await answered_call(live_server, runner, {"agent1": agent_page},
                                     "13900000901", 45_000)
        await expect(agent_page.locator("#btn-hold")).to_be_enabled()
        await agent_page.click("#btn-hold")
        await expect(agent_page.locator("#hold-status")).to_have_text(
            "通话保持中（来电人正在收听等待音乐）")
        await expect(agent_page.locator("#btn-resume")).to_be_enabled()

        async def music() -> list[dict[str, str]]:
            return [c for c in await channels(ami) if c.get("Application") == "MusicOnHold"
                    and c["Channel"].startswith("PJSIP/holdmusic-")]

        await wait_for(music, 15, "the music on hold call")
        await agent_page.click("#btn-resume")
        await expect(agent_page.locator("#hold-status")).to_contain_text("已恢复通话（本次保持")
        await expect(agent_page.locator("#btn-hold")).to_be_enabled()

        # the supervisor listens from the board
        await login(sup_page, live_server, "sup1")
        row = sup_page.locator('#board-agents tr[data-username="agent1"]')
        await expect(row).to_have_attribute("data-state", "on_call", timeout=UI_TIMEOUT_MS)
        await row.locator(".board-listen").click()
        await expect(sup_page.locator("#board-error")).to_contain_text("正在呼叫您的话机以监听")

        async def spying() -> list[dict[str, str]]:
            return [c for c in await channels(ami)
                    if c["Channel"].startswith("PJSIP/supervisor1-")
                    and c.get("Application") == "ChanSpy"
                    and c.get("ApplicationData", "").startswith("PJSIP/agent1-")]

        await wait_for(spying, 20, "the supervisor's phone in ChanSpy")
    finally:
        await wind_down(ami, runner, [caller, agent_phone, sup_phone], [agent_page, sup_page],
                        http, admin)
    rows = await audited(http, admin, "call.monitor")
    assert [(a["actor"], a["target"], a["detail"]["mode"]) for a in rows
            if a["action"] == "call.monitor"] == [("sup1", "agent1", "listen")], rows
