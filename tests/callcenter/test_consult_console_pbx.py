"""Consultative transfer from the call card, in a real browser (Chromium), against
`hotline serve` and the real Asterisk with SIPp phones.

agent1 answers a SIPp caller, writes a note and clicks 咨询转接: the expert (expert1, whose phone
PJSIP/agent2 answers) gets the card with agent1's note, agent1's card says the expert answered;
完成转接 hangs agent1's leg up (Asterisk shows no agent1 channel, the caller reaches the expert)
and both cards say so.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from ivr.pbx.sipp import SippRunner
from tests.callcenter.browser import UI_TIMEOUT_MS
from tests.callcenter.conftest import LiveServer
from tests.callcenter.test_hold_console_pbx import answered_call, audited, wind_down
from tests.callcenter.util import bearer, channels, wait_for
from tests.support import TEST_PORTS

pytestmark = [pytest.mark.asterisk, pytest.mark.usefixtures("everyone_logged_out")]

NOTE = "咨询出口退税，需专家确认"


@dataclass
class Consulting:
    """agent1 (its page) on a call from a SIPp caller, with a note written; expert1's page
    open and its phone (PJSIP/agent2) ready to answer."""

    agent: Page
    expert: Page


@contextlib.asynccontextmanager
async def on_a_call(live_server: LiveServer, ami: Any, browser: Browser, number: str,
                    audited_queue: str) -> AsyncIterator[Consulting]:
    """The call, then (whatever the test did) everything hung up and logged out; the one
    consultation the test started is in the audit log with ``audited_queue``."""
    http = live_server.client()
    admin = bearer(live_server.token("admin1"))
    # the module's server is shared: another test's consultations are in its audit log already
    earlier = {row["id"] for row in await audited(http, admin, "call.consult")}
    runner = SippRunner(live_server.pbx.root, TEST_PORTS.sip)
    agent_phone = runner.start_agent(TEST_PORTS.agent(1), ring_ms=500, talk_ms=90_000,
                                     sends_silence=True)
    expert_phone = runner.start_agent(TEST_PORTS.agent(2), ring_ms=300, talk_ms=90_000,
                                      sends_silence=True)
    caller: Any = None
    agent_page = await browser.new_page(locale="zh-CN")
    expert_page = await browser.new_page(locale="zh-CN")
    try:
        caller = await answered_call(live_server, runner,
                                     {"agent1": agent_page, "expert1": expert_page},
                                     number, 60_000)
        await agent_page.fill("#notes", NOTE)
        yield Consulting(agent_page, expert_page)
    finally:
        await wind_down(ami, runner, [caller, agent_phone, expert_phone],
                        [agent_page, expert_page], http, admin)
    rows = [row for row in await audited(http, admin, "call.consult")
            if row["id"] not in earlier]
    assert [(a["actor"], a["detail"]["queue"]) for a in rows
            if a["action"] == "call.consult"] == [("agent1", audited_queue)], rows


async def agent1_gone(ami: Any) -> None:
    """agent1's channel is gone after 完成转接 and the expert's phone still has the caller."""
    async def gone() -> bool:
        return not [c for c in await channels(ami) if c["Channel"].startswith("PJSIP/agent1-")]

    await wait_for(gone, 15, "agent1's channel gone")
    assert [c for c in await channels(ami) if c["Channel"].startswith("PJSIP/agent2-")]


async def test_consult_and_complete_from_the_card(
        live_server: LiveServer, ami: Any, browser: Browser) -> None:
    async with on_a_call(live_server, ami, browser, "13900000921", "experts") as call:
        agent_page, expert_page = call.agent, call.expert
        await expect(agent_page.locator("#btn-xfer")).to_be_enabled()
        await expect(agent_page.locator("#btn-xfer-complete")).to_be_disabled()
        await agent_page.click("#btn-xfer")
        await expect(agent_page.locator("#btn-xfer-cancel")).to_be_enabled()
        # the expert's card: the call, with agent1's note
        await expect(expert_page.locator("#card-status")).to_have_text("通话中",
                                                                       timeout=UI_TIMEOUT_MS)
        await expect(expert_page.locator("#xfer-notes-list")).to_have_text(
            f"agent1：{NOTE}")
        await expect(agent_page.locator("#xfer-status")).to_have_text(
            "专家 expert1 已接听，可与专家沟通后选择完成转接、三方通话或取消")
        await expect(agent_page.locator("#btn-xfer-complete")).to_be_enabled()
        agent_channel = [c["Channel"] for c in await channels(ami)
                         if c["Channel"].startswith("PJSIP/agent1-")]
        assert agent_channel, await channels(ami)
        await agent_page.click("#btn-xfer-complete")
        await expect(agent_page.locator("#xfer-status")).to_have_text(
            "已完成转接：来电方已与专家 expert1 通话")
        await expect(expert_page.locator("#xfer-status")).to_have_text(
            "已完成转接：来电方已与专家 expert1 通话")
        await agent1_gone(ami)
        await expect(agent_page.locator("#card-status")).to_have_text("已结束，请完成小结",
                                                                      timeout=UI_TIMEOUT_MS)
        await expect(expert_page.locator("#card-status")).to_have_text("通话中")


async def test_consult_a_ready_agent_by_name_from_the_card(
        live_server: LiveServer, ami: Any, browser: Browser) -> None:
    """The transfer panel offers the agents now 就绪 by name: agent1 picks expert1 (not the
    expert seat's queue), whose phone is dialled directly; expert1's card has the note, both
    cards name both agents; 完成转接 leaves the caller with expert1."""
    async with on_a_call(live_server, ami, browser, "13900000922", "consult") as call:
        agent_page, expert_page = call.agent, call.expert
        named = agent_page.locator('#xfer-agents option[data-agent="expert1"]')
        await expect(named).to_have_count(1, timeout=UI_TIMEOUT_MS)
        # the expert seat stays the default
        await expect(agent_page.locator("#xfer-queue")).to_have_value("experts")
        await agent_page.select_option("#xfer-queue", "agent:expert1")
        await agent_page.click("#btn-xfer")
        await expect(agent_page.locator("#btn-xfer-cancel")).to_be_enabled()
        await expect(expert_page.locator("#card-status")).to_have_text("通话中",
                                                                       timeout=UI_TIMEOUT_MS)
        await expect(expert_page.locator("#xfer-notes-list")).to_have_text(
            f"agent1：{NOTE}")
        talking = "坐席 expert1 已接听坐席 agent1 的咨询，可沟通后选择完成转接、三方通话或取消"
        await expect(agent_page.locator("#xfer-status")).to_have_text(talking)
        await expect(expert_page.locator("#xfer-status")).to_have_text(talking)
        await agent_page.click("#btn-xfer-complete")
        done = "已完成转接：来电方已与坐席 expert1 通话"
        await expect(agent_page.locator("#xfer-status")).to_have_text(done)
        await expect(expert_page.locator("#xfer-status")).to_have_text(done)
        await agent1_gone(ami)
        await expect(expert_page.locator("#card-status")).to_have_text("通话中")
