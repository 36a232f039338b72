"""Notices to staff in the console, in a real browser (Debian chromium via playwright): a
supervisor texts a notice to chosen users and sees each one's status in Chinese (a recording
SMS gateway; the texts through Kannel: test_staff_notices_kannel.py). Screenshot:
var/screenshots/console-notices.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from callcenter.app import create_app
from callcenter.auth.services import UserService
from callcenter.settings import PROJECT_ROOT, Settings
from callcenter.sms.services import SmsService
from tests.sms.fakes import SentTexts
from tests.stats.test_pages_browser import browser_database, console_login, open_page
from tests.support import PORT_BASE, SUITE_CLOCK, serving_app

PORT = PORT_BASE + 378
NOTICE = "今晚20:00系统升级，请提前保存工单。"

pytestmark = pytest.mark.browser


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, SentTexts]]:
    url, db = browser_database(tmp_path, ("notice-sup", "supervisor", None),
                               ("notice-a1", "agent", None), ("notice-a2", "agent", None),
                               ("notice-admin", "admin", None))
    UserService(db, SUITE_CLOCK).update_user("notice-a1", actor="test", mobile="13900139001")
    settings = Settings(database_url=url, ami_enabled=False, kb_enabled=False,
                        session_cookie_secure=False, sms_survey_enabled=False)
    gateway = SentTexts()
    app = create_app(settings, SUITE_CLOCK)
    with serving_app(app, PORT) as base:
        app.state.sms = SmsService(db, SUITE_CLOCK, kb=None, tickets=None, sender=gateway)
        yield base, gateway
    db.dispose()


@pytest.fixture
def console() -> Iterator[tuple[Any, list[str]]]:
    """A Chinese page of chromium and the script errors it raised."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser, page = open_page(p, errors, 1000, width=1280, locale="zh-CN")
        yield page, errors
        browser.close()


def test_a_supervisor_texts_a_notice_and_sees_its_statuses(
        served: tuple[str, SentTexts], console: tuple[Any, list[str]]) -> None:
    from playwright.sync_api import expect

    base, gateway = served
    page, errors = console
    console_login(page, base, "notice-sup")
    expect(page.locator("#notice-panel h2")).to_have_text("员工短信通知")
    expect(page.locator("#notice-list li").first).to_have_text("（暂无通知）")
    expect(page.locator("#notice-users")).to_be_hidden()
    page.click("#btn-notice-send")
    expect(page.locator("#notice-status")).to_have_text("请填写通知内容")
    page.fill("#notice-text", NOTICE)
    page.select_option("#notice-audience", "users")
    page.fill("#notice-users", "notice-a1，notice-a2")
    page.click("#btn-notice-send")
    expect(page.locator("#notice-status")).to_have_text("通知已发送：2 人，短信 1 条")
    people = page.locator("#notice-list li[data-username]")
    expect(people).to_have_count(2)
    expect(people.nth(0)).to_contain_text("139****9001 已提交网关")
    expect(people.nth(1)).to_contain_text("无手机号，未发送")
    page.screenshot(path=str(PROJECT_ROOT / "var" / "screenshots" / "console-notices.png"),
                    full_page=True)
    assert [(n, t) for n, t, _i in gateway.sent] == [
        ("13900139001", f"【12366内部通知】{NOTICE}")]
    assert errors == []


def test_an_admin_keeps_the_staff_mobiles_in_the_console(
        served: tuple[str, SentTexts], console: tuple[Any, list[str]]) -> None:
    """The mobile a notice goes to is set on the admin page (PATCH /users/{name}), shown
    masked in the users table; a wrong number is refused in Chinese; an empty one removes it."""
    from playwright.sync_api import expect

    base, _gateway = served
    page, errors = console
    console_login(page, base, "notice-admin")
    row = page.locator("#users-table tbody tr", has_text="notice-a2")
    expect(row.locator("td").nth(4)).to_have_text("")
    form = page.locator("#mobile-form")
    form.locator('input[name="username"]').fill("notice-a2")
    form.locator('input[name="mobile"]').fill("1234")
    form.locator('button[type="submit"]').click()
    expect(page.locator("#admin-status")).to_have_text(
        "手机号须为11位中国大陆手机号，如 13800138000")
    form.locator('input[name="mobile"]').fill("139 0013 9002")
    form.locator('button[type="submit"]').click()
    expect(page.locator("#admin-status")).to_have_text("用户 notice-a2 的手机号已保存")
    expect(row.locator("td").nth(4)).to_have_text("139****9002")
    form.locator('input[name="username"]').fill("nobody-here")
    form.locator('input[name="mobile"]').fill("13900139003")
    form.locator('button[type="submit"]').click()
    expect(page.locator("#admin-status")).to_contain_text("nobody-here")
    form.locator('input[name="username"]').fill("notice-a1")
    form.locator('input[name="mobile"]').fill("")
    form.locator('button[type="submit"]').click()
    expect(page.locator("#admin-status")).to_have_text("用户 notice-a1 的手机号已删除")
    expect(page.locator("#users-table tbody tr", has_text="notice-a1").locator("td").nth(4)
           ).to_have_text("")
    assert errors == []
