"""Words, not ids (issue 16 item 7), in a real browser (Debian chromium via playwright): the
dashboard names FAQs by their question, menu nodes by their title and queues by their name;
the wallboard lists every queue, nobody waiting in it or not, and its agent chart says
无坐席登录 with nobody logged in, then each state with its count; the agent's call card shows
what the caller heard and pressed, the taxpayer by name and the taxpayer's earlier text.
Every check reads the visible Chinese text. Screenshots: var/screenshots/words-dashboard.png,
words-wallboard-empty.png, words-wallboard.png, words-call-card.png."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from callcenter.agents.models import AgentStateChange
from callcenter.app import create_app
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.settings import PROJECT_ROOT, Settings
from callcenter.taxpayers.services import TaxpayerService
from ivr.clock import FixedClock
from ivr.ports import EventKind
from tests.callcenter.util import PASSWORD
from tests.stats.conftest import Step, play
from tests.stats.test_pages_browser import CHROMIUM, FLAGS, browser_database, console_login
from tests.support import PORT_BASE, serving_app

PORT = PORT_BASE + 374
SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"
NOW = datetime.fromisoformat("2026-12-01T10:00:00+08:00")  # a working morning
E = EventKind
TIN = "913100001234567890"
FIRST_OFFENCE = "filing.first_violation_no_penalty"
FIRST_OFFENCE_Q = "首次逾期申报可以不罚款吗（首违不罚）？"

pytestmark = pytest.mark.browser


@dataclass
class Served:
    base: str
    db: Database
    app: Any


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    url, db = browser_database(tmp_path, ("words-boss", "supervisor", None),
                               ("words-agent", "agent", "PJSIP/agent7"))
    settings = Settings(database_url=url, ami_enabled=False, kb_enabled=False,
                        session_cookie_secure=False, stats_wallboard_interval_s=0.5,
                        sms_survey_enabled=False)
    app = create_app(settings, FixedClock(NOW))
    with serving_app(app, PORT) as base:
        yield Served(base, db, app)
    db.dispose()


def _consultation() -> list[Step]:
    """A call that went 主菜单 1 -> 税费咨询 2 -> 个人所得税咨询, heard the first-offence answer
    and waited in 综合咨询 for an agent (answered)."""
    return [(0, E.CALL_STARTED, {"caller": "13800000000", "channel": "PJSIP/c"}),
            (1, E.MENU_NODE, {"node": "welcome"}), (4, E.MENU_NODE, {"node": "main"}),
            (6, E.DIGITS, {"node": "main", "digits": "1"}),
            (6, E.MENU_NODE, {"node": "consult"}),
            (8, E.DIGITS, {"node": "consult", "digits": "2"}),
            (8, E.MENU_NODE, {"node": "cat_iit"}),
            (12, E.FAQ_PLAYED, {"node": "cat_iit", "faq_id": FIRST_OFFENCE,
                                "question": FIRST_OFFENCE_Q, "score": 1.0,
                                "category": "申报", "via": "speech"}),
            (30, E.QUEUE_JOINED, {"queue": "consult", "position": 1}),
            (40, E.AGENT_CONNECTED, {"queue": "consult", "agent": "a1", "hold_time": 10}),
            (100, E.AGENT_COMPLETED, {"queue": "consult", "agent": "a1", "talk_time": 60,
                                      "hold_time": 10, "reason": "caller"}),
            (101, E.CALL_ENDED, {"cause": 16, "cause_txt": "Normal Clearing"})]


def test_words_on_the_dashboard_the_wallboard_and_the_call_card(served: Served) -> None:
    from playwright.sync_api import expect, sync_playwright

    contacts = ContactService(served.db)
    for n in range(3):
        play(contacts, f"D{n}", NOW - timedelta(hours=2, minutes=n * 5), _consultation())
    # the caller of the card: a text from the taxpayer's registered mobile last week, then
    # this call (main 3: the comprehensive query, verified; then 0: an agent), waiting now
    TaxpayerService(served.db, FixedClock(NOW)).upsert(
        TIN, "上海示例贸易有限公司", "123456", [], mobile="13900000002")
    play(contacts, "S-old", NOW - timedelta(days=6), [
        (0, E.CALL_STARTED, {"caller": "13900000002", "channel": "SMS/12366", "medium": "sms"}),
        (0, E.CALL_ENDED, {"cause": 16, "cause_txt": "sms"})])
    play(contacts, "L-card", NOW - timedelta(seconds=50), [
        (0, E.CALL_STARTED, {"caller": "02150000001", "channel": "PJSIP/d"}),
        (1, E.MENU_NODE, {"node": "main"}), (3, E.DIGITS, {"node": "main", "digits": "3"}),
        (3, E.MENU_NODE, {"node": "query_tin"}),
        (9, E.DIGITS, {"node": "query_tin", "digits": TIN}),
        (9, E.MENU_NODE, {"node": "query_pin"}),
        (12, E.DIGITS, {"node": "query_pin", "digits": "******"}),
        (13, E.SERVICE_RESULT, {"node": "query_pin", "service": "taxpayer_query",
                                "result": "found", "tin": TIN}),
        (20, E.DIGITS, {"node": "query_pin", "digits": "0", "action": "agent"}),
        (21, E.QUEUE_JOINED, {"queue": "consult", "position": 1})])

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(locale="zh-CN", viewport={"width": 1500, "height": 1150})
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        # the dashboard: FAQs by question, nodes by title, queues by name (SVG text)
        page.goto(f"{served.base}/stats/dashboard?from=2026-12-01&to=2026-12-01"
                  "&interval=hour")
        page.fill("input[name=username]", "words-boss")
        page.fill("input[name=password]", PASSWORD)
        page.click("#login button")
        page.wait_for_selector("body[data-state=ready]", timeout=20000)
        expect(page.locator("#c-faq")).to_contain_text(FIRST_OFFENCE_Q[:18])
        expect(page.locator("#c-nodes")).to_contain_text("个人所得税咨询")
        expect(page.locator("#c-nodes")).to_contain_text("主菜单")
        expect(page.locator("#c-queues")).to_contain_text("综合咨询")
        for chart in ("#c-faq", "#c-nodes", "#c-queues"):
            shown = page.text_content(chart) or ""
            for an_id in (FIRST_OFFENCE, "cat_iit", "consult"):
                assert an_id not in shown, (chart, an_id)
        # the id stays at hand: the tooltip of the FAQ's bar
        page.wait_for_timeout(800)  # chart animations
        page.locator("#c-faq").scroll_into_view_if_needed()  # the mouse moves in the viewport
        box = page.locator("#c-faq").bounding_box()
        assert box is not None
        for step in range(10):  # over the bar, until the tooltip is drawn
            page.mouse.move(box["x"] + box["width"] * (0.55 + step * 0.02),
                            box["y"] + box["height"] * 0.55)
            if f"编号：{FIRST_OFFENCE}" in (page.text_content("#c-faq") or ""):
                break
            page.wait_for_timeout(300)
        expect(page.locator("#c-faq")).to_contain_text(f"编号：{FIRST_OFFENCE}")
        page.screenshot(path=str(SCREENSHOTS / "words-dashboard.png"), full_page=True)

        # the wallboard: every queue, and nobody logged in
        page.goto(f"{served.base}/stats/wallboard")
        page.wait_for_selector("body[data-ws=live]", timeout=20000)
        rows = page.locator("#w-queues tr")
        expect(rows).to_have_count(7)  # the seven queues the hotline ships
        expect(page.locator('#w-queues tr[data-queue="consult"] td')).to_have_text(
            ["综合咨询", "1", "0:29"])
        expect(page.locator('#w-queues tr[data-queue="director"] td')).to_have_text(
            ["局长热线", "0", "0:00"])
        expect(page.locator("#c-agents")).to_contain_text("无坐席登录")
        expect(page.locator("#c-agents")).to_have_attribute("data-logged-in", "0")
        expect(page.locator("#c-agents")).to_contain_text("通话中: 0")
        page.wait_for_timeout(600)
        page.screenshot(path=str(SCREENSHOTS / "words-wallboard-empty.png"), full_page=True)
        with served.db.transaction() as session:  # two agents log in, one takes a break
            for user, state in (("wall-a1", "ready"), ("wall-a2", "paused")):
                session.add(AgentStateChange(username=user, state=state, reason=None,
                                             at=NOW - timedelta(hours=1)))
        expect(page.locator("#c-agents")).to_have_attribute("data-logged-in", "2",
                                                             timeout=15000)
        expect(page.locator("#c-agents")).not_to_contain_text("无坐席登录")
        for words in ("空闲: 1", "小休: 1", "通话中: 0", "振铃: 0", "话后处理: 0"):
            expect(page.locator("#c-agents")).to_contain_text(words)
        page.wait_for_timeout(600)
        page.screenshot(path=str(SCREENSHOTS / "words-wallboard.png"), full_page=True)

        # the call card: the agent's phone rings for L-card (the desk's card, published to
        # the agent's topic as the AMI's AgentCalled does)
        agent = browser.new_page(locale="zh-CN", viewport={"width": 1400, "height": 1000})
        agent.on("pageerror", lambda exc: errors.append(str(exc)))
        console_login(agent, served.base, "words-agent")
        expect(agent.locator("#ws-status")).to_have_text("实时连接正常", timeout=20000)
        _ring(served.app, "words-agent", "L-card", "02150000001", "consult")
        card = agent.locator("#call-card")
        expect(card).to_be_visible(timeout=15000)
        path = agent.locator("#card-path")
        expect(path).to_contain_text("主菜单（按 3）")
        expect(path).to_contain_text("输入查询密码（按 ******、转人工）")
        expect(agent.locator("#card-taxpayer")).to_have_text(
            f"{TIN} 上海示例贸易有限公司（已验证）")
        expect(agent.locator("#card-queue")).to_have_text("综合咨询")
        expect(agent.locator("#card-previous")).to_contain_text("短信 13900000002")
        agent.wait_for_timeout(300)
        agent.screenshot(path=str(SCREENSHOTS / "words-call-card.png"), full_page=True)
        browser.close()
    assert errors == []
    for name in ("words-dashboard.png", "words-wallboard-empty.png", "words-wallboard.png",
                 "words-call-card.png"):
        assert (SCREENSHOTS / name).stat().st_size > 10_000


def _ring(app: Any, username: str, linkedid: str, caller: str, queue: str) -> None:
    """Build the call card with the serving app's desk and publish it on the app's loop."""
    runtime = app.state.runtime
    worker = runtime.contact_log._worker  # a task of the app's event loop
    assert worker is not None
    loop = worker.get_loop()

    async def ring() -> None:
        card = await runtime.desk.call_card(linkedid, caller, queue, None)
        app.state.notifier.call_ringing(username, card)

    asyncio.run_coroutine_threadsafe(ring(), loop).result(15)
