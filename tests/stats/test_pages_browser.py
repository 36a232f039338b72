"""The dashboard and the live wallboard in a real browser (Debian chromium via playwright).

Screenshots: var/screenshots/stats-dashboard.png, var/screenshots/stats-wallboard.png.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from callcenter.app import create_app
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.migrate import upgrade
from callcenter.settings import PROJECT_ROOT, Settings
from callcenter.stats.demo import seed
from callcenter.stats.services import StatsService
from ivr.clock import FixedClock
from ivr.ports import EventKind
from tests.callcenter.util import PASSWORD, ensure_user
from tests.stats.conftest import play
from tests.support import PORT_BASE, SUITE_CLOCK, in_ci, serving_app, sqlite_url

CHROMIUM = "/usr/bin/chromium"
PORT = PORT_BASE + 371
SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.browser


def _browser_missing() -> str | None:
    if not shutil.which(CHROMIUM):
        return "Debian chromium is not installed (scripts/system-deps.sh)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "PyPI playwright is not installed"
    return None


def need_browser() -> None:
    """Skip the test (fail it in CI) when chromium or playwright is missing."""
    reason = _browser_missing()
    if reason:
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)


def browser_database(tmp_path: Path, *users: tuple[str, str, str | None]) -> tuple[str, Database]:
    """For a browser test: skipped (failed in CI) without chromium and playwright; else a
    migrated SQLite database with ``users`` (username, role, phone interface)."""
    need_browser()
    url = sqlite_url(tmp_path)
    upgrade(url)
    db = Database(url)
    for username, role, interface in users:
        ensure_user(db, username, role, interface=interface)
    return url, db


def open_page(p: Any, errors: list[str], height: int, *, width: int = 1500,
              locale: str | None = None) -> tuple[Any, Any]:
    """A chromium (of playwright ``p``) and a page 1500 px wide whose script errors land in
    ``errors``: (browser, page)."""
    browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
    page = browser.new_page(viewport={"width": width, "height": height},
                            **({"locale": locale} if locale else {}))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return browser, page


def console_login(page: Any, base: str, username: str) -> None:
    """Sign in to the console (/console) as ``username`` (the suite's password)."""
    page.goto(f"{base}/console")
    page.fill("#login-username", username)
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")


@pytest.fixture
def server(db_url: str, stats: StatsService) -> Iterator[str]:
    reason = _browser_missing()
    if reason:
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    settings = Settings(database_url=db_url, ami_enabled=False, kb_enabled=False,
                        stats_wallboard_interval_s=0.5, session_cookie_secure=False)
    with serving_app(create_app(settings, SUITE_CLOCK), PORT, start_timeout_s=20) as base:
        yield base


def _waiting(contacts: ContactService, linkedid: str, queue: str, seconds_ago: float) -> None:
    at = SUITE_CLOCK() - timedelta(seconds=seconds_ago)
    play(contacts, linkedid, at, [
        (0, EventKind.CALL_STARTED, {"caller": "13800000000", "channel": "PJSIP/x"}),
        (2, EventKind.QUEUE_JOINED, {"queue": queue, "position": 1})])


def test_dashboard_and_wallboard_in_chromium(server: str, database: Database,
                                              contacts: ContactService,
                                              stats: StatsService) -> None:
    from playwright.sync_api import expect, sync_playwright

    seed(database, 3000, clock=FixedClock(datetime(2026, 11, 28, tzinfo=UTC)), days=14,
         end=date(2026, 11, 27), rng_seed=3, other_share=0.06)
    for n in range(2):  # two texts to 12366 in the range: the sms channel
        play(contacts, f"sms-D{n}", datetime(2026, 11, 20, 2, n, tzinfo=UTC), [
            (0, EventKind.CALL_STARTED, {"caller": "13800000000", "channel": "SMS/12366",
                                         "medium": "sms"}),
            (0, EventKind.SELF_SERVICE, {"node": "sms", "service": "faq", "detail": "a"}),
            (0, EventKind.CALL_ENDED, {"cause": 16, "cause_txt": "sms"})])
    # one outbound callback attempt, reached (callcenter/outbound): counted apart
    play(contacts, "cb-1-1-dash", datetime(2026, 11, 20, 3, 0, tzinfo=UTC), [
        (0, EventKind.CALL_STARTED, {"caller": "13800000009", "channel": "PJSIP/agent1",
                                     "direction": "outbound"}),
        (5, EventKind.AGENT_CONNECTED, {"queue": "consult", "agent": "agent1"}),
        (65, EventKind.CALL_ENDED, {"cause": 16})])
    stats.rebuild()
    expected = stats.summary(stats.range("2026-11-14", "2026-11-27", "day"))["total"]
    ensure_user(database, "wall-supervisor", "supervisor")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as p:
        browser, page = open_page(p, errors, 1150)
        page.goto(f"{server}/stats/dashboard?from=2026-11-14&to=2026-11-27&interval=day")
        # not logged in: the login form, in Chinese
        expect(page.locator("#login")).to_be_visible()
        page.fill("input[name=username]", "wall-supervisor")
        page.fill("input[name=password]", "wrong-password")
        page.click("#login button")
        expect(page.locator("#login-error")).not_to_be_empty()
        page.fill("input[name=password]", PASSWORD)
        page.click("#login button")
        page.wait_for_selector("body[data-state=ready]", timeout=20000)
        assert page.text_content("#k-contacts") == f"{expected['contacts']:,}"
        assert page.text_content("#k-manual") == f"{expected['manual']:,}"
        assert page.text_content("#k-sl") == f"{expected['service_level'] * 100:.1f}%"
        assert page.locator("#c-trend canvas").count() == 1
        # every channel side by side; the telephone's figures above stay calls only
        phone = page.locator('#channels-table tr[data-channel="phone"] td')
        sms = page.locator('#channels-table tr[data-channel="sms"] td')
        expect(phone.nth(1)).to_have_text(f"{expected['contacts']:,}")
        expect(sms.nth(0)).to_have_text("短信")
        expect(sms.nth(1)).to_have_text("2")
        expect(page.locator('#channels-table tr[data-channel="web"] td').nth(1)).to_have_text("0")
        assert page.locator("#c-media canvas").count() == 1
        # outbound callbacks apart: one attempt reached in the range, none in the figures above
        outbound = page.locator("#outbound-table")
        expect(outbound).to_have_attribute("data-state", "ready")
        expect(outbound.locator("thead th").nth(1)).to_have_text("外呼回电次数")
        expect(outbound.locator("tbody td").nth(1)).to_have_text("1")
        expect(outbound.locator("tbody td").nth(2)).to_have_text("1")
        page.select_option("#channel", "sms")
        page.click("#load")
        expect(page.locator("#k-contacts")).to_have_text("2")
        expect(page.locator("#k-contacts-label")).to_have_text("联系总量")
        page.select_option("#channel", "phone")
        page.click("#load")
        expect(page.locator("#k-contacts")).to_have_text(f"{expected['contacts']:,}")
        # an inverted range: the reason is shown, nothing breaks
        page.fill("#from", "2026-11-28")
        page.click("#load")
        page.wait_for_selector("body[data-state=error]")
        assert "“from”须早于“to”" in (page.text_content("#error") or "")
        page.fill("#from", "2026-11-14")
        page.click("#load")
        page.wait_for_selector("body[data-state=ready]")
        page.wait_for_timeout(800)  # chart animations
        page.screenshot(path=str(SCREENSHOTS / "stats-dashboard.png"), full_page=True)

        # the wallboard, fed over the WebSocket
        _waiting(contacts, "WB1", "consult", 65)
        _waiting(contacts, "WB2", "experts", 20)
        page.goto(f"{server}/stats/wallboard")
        page.wait_for_selector("body[data-ws=live]", timeout=20000)
        expect(page.locator("#w-waiting")).to_have_text("2")
        _waiting(contacts, "WB3", "consult", 5)
        expect(page.locator("#w-waiting")).to_have_text("3", timeout=15000)
        longest = page.text_content("#w-longest") or ""
        minutes, seconds = (int(x) for x in longest.split(":"))
        assert minutes * 60 + seconds >= 63  # WB1 joined the queue 63 s before the first snapshot
        assert "综合咨询" in (page.text_content("#w-queues") or "")
        # today by channel: the three calls waiting are open phone contacts
        expect(page.locator('#w-channels tr[data-channel="phone"] td').nth(5)).to_have_text("3")
        expect(page.locator('#w-channels tr[data-channel="sms"] td').nth(0)).to_have_text("短信")
        page.wait_for_timeout(800)
        page.screenshot(path=str(SCREENSHOTS / "stats-wallboard.png"), full_page=True)
        browser.close()
    assert errors == []
    for name in ("stats-dashboard.png", "stats-wallboard.png"):
        assert (SCREENSHOTS / name).stat().st_size > 20_000
