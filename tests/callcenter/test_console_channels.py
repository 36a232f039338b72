"""The console's "today by channel" panel in a real browser (Debian chromium via playwright): a
supervisor sees today's calls, texts and their delivery, and the panel follows the wallboard
topic without a reload. Screenshot: var/screenshots/console-channels.png."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from callcenter.app import create_app
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.settings import PROJECT_ROOT, Settings
from callcenter.sms.services import SmsService
from ivr.clock import FixedClock
from ivr.ports import EventKind
from tests.stats.conftest import Step, play
from tests.stats.test_pages_browser import CHROMIUM, FLAGS, browser_database, console_login
from tests.support import PORT_BASE, serving_app

PORT = PORT_BASE + 373
SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"
# a working morning: "today" cannot turn into tomorrow while the test runs
NOW = datetime.fromisoformat("2026-12-01T10:00:00+08:00")
E = EventKind

pytestmark = pytest.mark.browser


class Gateway:
    async def send(self, number: str, text: str, message_id: int) -> str | None:
        return None


def call() -> list[Step]:
    return [(0, E.CALL_STARTED, {"caller": "13800000000", "channel": "PJSIP/caller-1"}),
            (20, E.SELF_SERVICE, {"node": "faq", "service": "faq", "detail": None}),
            (30, E.CALL_ENDED, {"cause": 16, "cause_txt": "Normal Clearing"})]


def text() -> list[Step]:
    return [(0, E.CALL_STARTED, {"caller": "13800000000", "channel": "SMS/12366",
                                 "medium": "sms"}),
            (0, E.SELF_SERVICE, {"node": "sms", "service": "faq", "detail": "a"}),
            (0, E.CALL_ENDED, {"cause": 16, "cause_txt": "sms"})]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Database]]:
    url, db = browser_database(tmp_path, ("channel-boss", "supervisor", None))
    settings = Settings(database_url=url, ami_enabled=False, kb_enabled=False,
                        session_cookie_secure=False, stats_wallboard_interval_s=0.5,
                        # the calls below would get survey texts, failed (no gateway here),
                        # and the texts' delivery rate would count them
                        sms_survey_enabled=False)
    with serving_app(create_app(settings, FixedClock(NOW)), PORT) as base:
        yield base, db
    db.dispose()


def test_supervisor_sees_today_by_channel(served: tuple[str, Database]) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, db = served
    contacts = ContactService(db)
    play(contacts, "C1", NOW - timedelta(hours=1), call())
    play(contacts, "C2", NOW - timedelta(minutes=50), call())
    play(contacts, "sms-T1", NOW - timedelta(minutes=40), text())
    texts = SmsService(db, FixedClock(NOW - timedelta(minutes=40)), kb=None, tickets=None,
                       sender=Gateway())
    sent = asyncio.run(texts.send("13800000000", "答复", "sms-T1"))
    assert texts.record_dlr(sent.id, 1)
    errors: list[str] = []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(locale="zh-CN", viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        console_login(page, base, "channel-boss")
        expect(page.locator("#channels-panel")).to_be_visible()
        phone = page.locator('#channels-today tr[data-channel="phone"] td')
        sms = page.locator('#channels-today tr[data-channel="sms"] td')
        web = page.locator('#channels-today tr[data-channel="web"] td')
        expect(phone.nth(0)).to_have_text("电话")
        expect(phone.nth(1)).to_have_text("2")
        expect(phone.nth(2)).to_have_text("2")       # self-service
        expect(phone.nth(5)).to_have_text("100.0%")  # self-service rate
        expect(sms.nth(0)).to_have_text("短信")
        expect(sms.nth(1)).to_have_text("1")
        expect(sms.nth(7)).to_have_text("100.0%")    # delivered
        expect(web.nth(1)).to_have_text("0")
        expect(web.nth(5)).to_have_text("—")         # no data, never 0 %
        # a second text: the panel follows the wallboard topic, no reload, no click
        play(contacts, "sms-T2", NOW - timedelta(minutes=30), text())
        expect(sms.nth(1)).to_have_text("2", timeout=15000)
        page.screenshot(path=str(SCREENSHOTS / "console-channels.png"), full_page=True)
        browser.close()
    assert errors == []
