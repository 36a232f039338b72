"""The console's knowledge-base panel in a real browser (Debian chromium via playwright): it
shows the knowledge base's decision (answer, confirm, decline), the one the IVR and the API
take, with its results. Screenshot: var/screenshots/console-kb-confirm.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from callcenter.app import create_app
from callcenter.settings import PROJECT_ROOT, Settings
from knowledge_base import KnowledgeBase
from tests.ivr_support import knowledge_base
from tests.stats.test_pages_browser import CHROMIUM, FLAGS, browser_database, console_login
from tests.support import PORT_BASE, SUITE_CLOCK, serving_app

PORT = PORT_BASE + 372
SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    url, db = browser_database(tmp_path, ("kb-agent", "agent", "PJSIP/agent1"))
    db.dispose()
    settings = Settings(database_url=url, ami_enabled=False, kb_enabled=True,
                        session_cookie_secure=False)
    with serving_app(create_app(settings, SUITE_CLOCK), PORT) as base:
        yield base


def test_kb_panel_shows_the_decision(server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    kb: KnowledgeBase = knowledge_base()  # the same base and clock as the server's
    cases = {
        "个税起征点是多少": ("answer", "可直接答复"),
        "小规模纳税人增值税": ("confirm", "请向来电人确认"),
        "明天北京会下雨吗": ("decline", "知识库无法答复"),
    }
    errors: list[str] = []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(locale="zh-CN", viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        console_login(page, server, "kb-agent")
        expect(page.locator("#whoami")).to_be_visible()
        for question, (kind, label) in cases.items():
            decision = kb.decide(question, top=5)
            assert decision.kind.value == kind  # what the API answers, checked on its own
            page.fill("#kb-q", question)
            page.click("#kb-form button")
            expect(page.locator("#kb-decision")).to_have_attribute("data-decision", kind)
            expect(page.locator("#kb-decision")).to_contain_text(label)
            items = page.locator("#kb-results li")
            expect(items).to_have_count(len(decision.results))
            for index, result in enumerate(decision.results):
                expect(items.nth(index)).to_contain_text(result.question)
            if kind == "confirm":
                page.screenshot(path=str(SCREENSHOTS / "console-kb-confirm.png"),
                                full_page=True)
        browser.close()
    assert errors == []
