"""The dashboard's 质检评分 panel in a real browser (Debian chromium via playwright): the
quality scores of the seeded reviews (tests/stats/test_quality_stats.py) per agent and per
period, agents by their names and never by an id, read from the visible Chinese text.
Screenshot: var/screenshots/stats-quality.png."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from callcenter.app import create_app
from callcenter.settings import PROJECT_ROOT, Settings
from tests.callcenter.util import PASSWORD
from tests.stats.test_pages_browser import need_browser, open_page
from tests.stats.test_quality_stats import seeded  # noqa: F401  (the reviews, a fixture)
from tests.support import PORT_BASE, SUITE_CLOCK, serving_app

PORT = PORT_BASE + 378
SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"

pytestmark = pytest.mark.browser


@pytest.fixture
def server(db_url: str) -> Iterator[str]:
    need_browser()
    settings = Settings(database_url=db_url, ami_enabled=False, kb_enabled=False,
                        stats_wallboard_interval_s=0, session_cookie_secure=False)
    with serving_app(create_app(settings, SUITE_CLOCK), PORT, start_timeout_s=20) as base:
        yield base


def texts(locator: Any) -> list[list[str]]:
    """The visible text of each row's cells."""
    rows = locator.locator("tr")
    return [[c.strip() for c in rows.nth(i).locator("th, td").all_inner_texts()]
            for i in range(rows.count())]


@pytest.mark.usefixtures("seeded")
def test_the_dashboard_shows_quality_scores_per_agent_and_period(server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as p:
        browser, page = open_page(p, errors, 1400)
        page.goto(f"{server}/stats/dashboard?from=2026-11-26&to=2026-11-27&interval=day")
        page.fill("input[name=username]", "qa-sup-x")
        page.fill("input[name=password]", PASSWORD)
        page.click("#login button")
        page.wait_for_selector("body[data-state=ready]")
        table = page.locator("#quality-table")
        expect(table).to_have_attribute("data-state", "ready")
        expect(table.locator("caption")).to_have_text("质检评分（按坐席，满分 100）")
        assert texts(table.locator("thead")) == [[
            "坐席", "评分数", "平均得分", "最低分", "最高分", "坐席确认率",
            "政策解答准确性（得分率）", "服务态度（得分率）"]]
        assert texts(table.locator("tbody")) == [
            ["张三", "3", "78.3", "55.0", "100.0", "66.7%", "80.0%", "73.3%"],
            ["李四", "1", "62.5", "62.5", "62.5", "0.0%", "50.0%", "100.0%"],
            ["合计", "4", "74.4", "55.0", "100.0", "50.0%", "72.5%", "80.0%"]]
        series = page.locator("#quality-series")
        expect(series).to_have_attribute("data-state", "ready")
        assert texts(series.locator("tbody")) == [
            ["2026-11-26", "张三", "1", "100.0", "100.0", "100.0", "100.0%"],
            ["2026-11-26", "李四", "1", "62.5", "62.5", "62.5", "0.0%"],
            ["2026-11-27", "张三", "2", "67.5", "55.0", "80.0", "50.0%"]]
        panel = page.locator(".quality").inner_text()
        assert "qa-a" not in panel  # names, never ids
        assert "qa-b" not in panel
        table.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "stats-quality.png"), full_page=True)

        # by month: the 28th's review (a 0) joins; a month without reviews says so
        page.select_option("#interval", "month")
        page.fill("#from", "2026-11-01")
        page.fill("#to", "2026-11-30")
        page.click("#load")
        expect(series.locator("tbody tr").first.locator("td").first).to_have_text("2026-11")
        assert texts(series.locator("tbody")) == [
            ["2026-11", "张三", "4", "58.8", "0.0", "100.0", "50.0%"],
            ["2026-11", "李四", "1", "62.5", "62.5", "62.5", "0.0%"]]
        page.fill("#from", "2026-10-01")
        page.fill("#to", "2026-10-31")
        page.click("#load")
        expect(table.locator("tbody")).to_have_text("所选时段内没有质检评分")
        browser.close()
    assert errors == []
    assert (SCREENSHOTS / "stats-quality.png").stat().st_size > 20_000
