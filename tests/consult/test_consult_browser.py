"""Online consultation in a real browser (Debian chromium via playwright), on a phone-sized
screen: a taxpayer gets the code by text, sees the refusals in Chinese, sees the knowledge
base's answers while typing, submits a question and is told the reply deadline; an agent
opens it in the console's work list and replies; the taxpayer sees the reply on the page.
The SMS gateway is a recording one here (the texts through Kannel: test_consult_kannel.py).
Screenshots: var/screenshots/consult-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from callcenter.app import create_app
from callcenter.db import Database
from callcenter.migrate import upgrade
from callcenter.settings import PROJECT_ROOT, Settings
from callcenter.sms.services import SmsService
from knowledge_base import KnowledgeBase
from tests.callcenter.util import PASSWORD, ensure_user
from tests.sms.fakes import SentTexts
from tests.sms.kannel import lexical_kb
from tests.stats.test_pages_browser import CHROMIUM, FLAGS, _browser_missing
from tests.support import PORT_BASE, SUITE_CLOCK, in_ci, serving_app, sqlite_url

PORT = PORT_BASE + 374
SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"
PHONE = "13800138000"
TYPED = "个税汇算什么时候开始"
QUESTION = "我去年在两家单位领工资，汇算时需要补税吗？"
REPLY = "您好，两处取得工资需合并计算综合所得，汇算时多退少补，可在个人所得税App办理。"

pytestmark = pytest.mark.browser


@dataclass
class Served:
    base: str
    gateway: SentTexts
    kb: KnowledgeBase

    def code(self) -> str:
        text = [t for n, t, _i in self.gateway.sent if n == PHONE][-1]
        return text.split("验证码为", 1)[1][:6]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    reason = _browser_missing()
    if reason:
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    url = sqlite_url(tmp_path)
    upgrade(url)
    db = Database(url)
    ensure_user(db, "consult-agent", "agent")
    settings = Settings(database_url=url, ami_enabled=False, kb_enabled=False,
                        session_cookie_secure=False, sms_survey_enabled=False)
    kb = lexical_kb(settings.timezone)
    gateway = SentTexts()
    app = create_app(settings, SUITE_CLOCK)
    with serving_app(app, PORT) as base:
        app.state.knowledge_base = kb
        app.state.sms = SmsService(db, SUITE_CLOCK, kb=None, tickets=None, sender=gateway)
        yield Served(base, gateway, kb)
    db.dispose()


def test_a_taxpayer_asks_and_reads_the_agents_reply(served: Served) -> None:
    from playwright.sync_api import expect, sync_playwright

    suggested = served.kb.decide(TYPED)
    assert suggested.results, "the typed words must get suggestions"
    first_answer = served.kb.get(suggested.results[0].id).answer
    errors: list[str] = []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        phone = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844},
                                    is_mobile=True, has_touch=True)
        page = phone.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{served.base}/consult")
        expect(page.locator("h1")).to_have_text("12366 网上咨询")

        # a bad number: refused in Chinese, nothing sent
        page.fill("#phone", "12345")
        page.click("#btn-code")
        expect(page.locator("#verify-error")).to_have_text(
            "请输入正确的11位中国大陆手机号码，如13800138000")
        assert served.gateway.sent == []

        page.fill("#phone", PHONE)
        page.click("#btn-code")
        expect(page.locator("#verify-status")).to_have_text(
            "验证码已发送至 138****8000，请查看短信。")
        expect(page.locator("#btn-code")).to_be_disabled()  # the resend countdown
        code = served.code()
        wrong = "000000" if code != "000000" else "111111"
        page.fill("#code", wrong)
        page.click("#btn-verify")
        expect(page.locator("#verify-error")).to_have_text("验证码错误，还可尝试4次")
        page.fill("#code", code)
        page.click("#btn-verify")
        expect(page.locator("#ask-view")).to_be_visible()
        expect(page.locator("#me-phone")).to_have_text("138****8000")
        expect(page.locator("#none")).to_be_visible()

        # an empty question: refused on the page
        page.click("#btn-ask")
        expect(page.locator("#ask-error")).to_have_text("请填写您的问题")

        # suggestions while typing: the knowledge base's answer text
        page.locator("#question").press_sequentially(TYPED, delay=40)
        expect(page.locator("#suggest-box")).to_be_visible()
        expect(page.locator("#suggestions li .a").first).to_have_text(first_answer)
        expect(page.locator("#ask-error")).to_have_text("")  # typing clears the refusal
        page.screenshot(path=str(SCREENSHOTS / "consult-suggestions.png"), full_page=True)

        # the agent, in the console's work list, before the question comes
        desk = browser.new_page(locale="zh-CN", viewport={"width": 1280, "height": 900})
        desk.on("pageerror", lambda exc: errors.append(str(exc)))
        desk.goto(f"{served.base}/console")
        desk.fill("#login-username", "consult-agent")
        desk.fill("#login-password", PASSWORD)
        desk.click("#login-submit")
        expect(desk.locator("#ws-status")).to_have_text("实时连接正常")
        expect(desk.locator("#consult-badge")).to_be_hidden()
        expect(desk.locator("#consult-badge")).to_have_attribute("data-live", "1")

        # still submitted: a consultation with its deadline
        page.fill("#question", QUESTION)
        page.click("#btn-ask")
        expect(page.locator("#ask-status")).to_contain_text("前答复")
        status = page.locator("#ask-status").inner_text()
        assert "我们将在" in status
        item = page.locator("#consultations > li").first
        expect(item.locator(".question")).to_have_text(QUESTION)
        expect(item.locator(".status")).to_have_text("待答复")
        ticket = item.get_attribute("data-ticket")
        assert ticket

        # the agent's console heard of it at once: the badge, the notice, the row marked new
        expect(desk.locator("#consult-badge")).to_have_text("新咨询 1")
        expect(desk.locator("#consult-new")).to_contain_text(f"新网上咨询：工单 {ticket}")
        expect(desk.locator("#consult-new")).to_contain_text(QUESTION)
        row = desk.locator(f'#tickets-table tr[data-ticket="{ticket}"]')
        expect(row.locator("td").nth(1)).to_have_text("网上咨询")
        expect(row).to_have_class("consult-fresh")  # nobody pressed 刷新
        row.locator(".consult-open").click()
        expect(desk.locator("#consult-badge")).to_be_hidden()  # opened: no longer new
        expect(row).not_to_have_class("consult-fresh")
        expect(desk.locator("#consult-question")).to_have_text(QUESTION)
        expect(desk.locator("#consult-meta")).to_contain_text(PHONE)
        desk.click("#btn-consult-send")
        expect(desk.locator("#consult-status")).to_have_text("请填写答复内容")
        desk.fill("#consult-reply", REPLY)
        desk.click("#btn-consult-send")
        expect(desk.locator("#consult-status")).to_have_text("答复已发送")
        expect(desk.locator("#consult-replies li").first).to_contain_text(REPLY)
        expect(row.locator("td").nth(2)).to_have_text("已答复")
        desk.screenshot(path=str(SCREENSHOTS / "consult-console.png"), full_page=True)

        # the taxpayer sees the reply
        page.click("#btn-refresh")
        expect(item.locator(".reply-text")).to_have_text(REPLY)
        expect(item.locator(".status")).to_have_text("已答复")
        page.screenshot(path=str(SCREENSHOTS / "consult-reply.png"), full_page=True)
        browser.close()
    assert served.gateway.sent[-1][:2] == (PHONE,
                                           f"【12366】您的咨询（工单号{ticket}）答复：{REPLY}")
    assert errors == []
