"""Quality review in the console, in a real browser (Debian chromium via playwright): the admin
saves a new version of the review form, a supervisor finds a recorded call, listens with the
recordings player, scores the agent (a score above its maximum is refused with the reason),
and the agent reads the review and acknowledges it. Screenshots:
var/screenshots/console-quality-review.png (supervisor), console-quality-agent.png (agent).

The call and its recording are seeded, not made on Asterisk: a contact the agent answered
and a WAV file with its ``recordings`` row, registered the same way as in
tests/callcenter/test_recordings.py. Recording a real call (both voices, served with an audit
row) is covered by tests/callcenter/test_recordings_pbx.py; this test is about reviewing one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from callcenter.app import create_app
from callcenter.auth.services import UserService
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.migrate import upgrade
from callcenter.quality.models import Review
from callcenter.recordings.services import RecordingService
from callcenter.settings import PROJECT_ROOT, Settings
from ivr.clock import FixedClock
from ivr.ports import EventKind
from tests.callcenter.test_recordings import write_wav
from tests.callcenter.util import PASSWORD, ensure_user
from tests.stats.conftest import play
from tests.stats.test_pages_browser import CHROMIUM, FLAGS, need_browser
from tests.support import PORT_BASE, SUITE_CLOCK, serving_app, sqlite_url

PORT = PORT_BASE + 376
SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"
CALLER = "13800004444"

pytestmark = pytest.mark.browser


@dataclass
class Served:
    base: str
    db: Database
    clock: FixedClock


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    need_browser()
    url = sqlite_url(tmp_path)
    upgrade(url)  # with the standard review form, version 1
    db = Database(url)
    clock = FixedClock(SUITE_CLOCK())
    ensure_user(db, "qa-agent", "agent", interface="PJSIP/agent1")
    UserService(db, clock).update_user("qa-agent", actor="test", display_name="王小丽")
    ensure_user(db, "qa-boss", "supervisor")
    ensure_user(db, "qa-admin", "admin")
    # the seeded call: answered by qa-agent an hour ago, recorded
    store = tmp_path / "recordings"
    store.mkdir()
    at = clock() - timedelta(hours=1)
    play(ContactService(db), "QB-1", at, [
        (0, EventKind.CALL_STARTED, {"caller": CALLER, "channel": "PJSIP/caller-1"}),
        (8, EventKind.AGENT_CONNECTED, {"agent": "qa-agent", "queue": "consult"}),
        (128, EventKind.CALL_ENDED, {"cause": 16, "cause_txt": "Normal Clearing"})])
    write_wav(store / "call-QB-1.wav", 2.0)
    RecordingService(db, store, clock, retention_days=30).register(
        "QB-1", "call", "call-QB-1.wav", "consult", at=at)
    settings = Settings(database_url=url, ami_enabled=False, kb_enabled=False,
                        session_cookie_secure=False, recordings_dir=store,
                        sms_survey_enabled=False)
    with serving_app(create_app(settings, clock), PORT) as base:
        yield Served(base, db, clock)
    db.dispose()


def test_supervisor_scores_a_call_and_the_agent_acknowledges(served: Served) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    errors: list[str] = []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def login(page: Page, username: str) -> None:
        page.goto(f"{served.base}/console")
        page.fill("#login-username", username)
        page.fill("#login-password", PASSWORD)
        page.click("#login-submit")
        expect(page.locator("#whoami")).to_be_visible()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)

        # the admin gives the closing more weight: version 2 of the standard form
        admin = browser.new_page(locale="zh-CN", viewport={"width": 1280, "height": 900})
        admin.on("pageerror", lambda exc: errors.append(str(exc)))
        login(admin, "qa-admin")
        rows = admin.locator("#qa-admin-criteria tbody tr")
        expect(rows).to_have_count(4)
        expect(rows.nth(3).locator(".qa-title")).to_have_value("结束语")
        rows.nth(3).locator(".qa-weight").fill("20")
        admin.click("#qa-admin-save")
        expect(admin.locator("#qa-admin-status")).to_have_text(
            "已保存：通话质检标准评分表（第2版）")
        admin.close()

        # the supervisor finds the call, listens, scores it
        sup = browser.new_page(locale="zh-CN", viewport={"width": 1280, "height": 1000})
        sup.on("pageerror", lambda exc: errors.append(str(exc)))
        login(sup, "qa-boss")
        sup.fill("#qa-caller", CALLER)
        sup.click("#qa-search button")
        call = sup.locator("#qa-calls > li")
        expect(call).to_have_count(1)
        expect(call.locator(".qa-recordings li")).to_contain_text("通话录音")
        player = call.locator(".qa-recordings audio")
        expect(player).to_have_count(1)
        # the player's source is served to the supervisor (and the playback audited)
        status = sup.evaluate("(src) => fetch(src).then((r) => r.status)",
                              player.get_attribute("src"))
        assert status == 200
        leg = call.locator('.qa-legs li[data-agent="qa-agent"]')
        expect(leg).to_contain_text("坐席 王小丽（qa-agent）")
        leg.locator("button.qa-score").click()
        expect(sup.locator("#qa-editor")).to_be_visible()
        expect(sup.locator("#qa-editor-title")).to_contain_text(
            f"{CALLER} · 坐席 王小丽（qa-agent）")
        expect(sup.locator("#qa-form")).to_contain_text("第2版")
        for key, value in {"greeting": "10", "accuracy": "12", "attitude": "9",
                           "closing": "10"}.items():
            sup.fill(f"#qa-score-{key}", value)
        sup.fill("#qa-comment", "政策答复基本准确，注意核实减免条件。")
        sup.click("#qa-submit")
        expect(sup.locator("#qa-status")).to_have_text("“政策解答准确性”的得分 12 超过满分 10")
        sup.fill("#qa-score-accuracy", "8")
        sup.click("#qa-submit")
        # 100 * (15*10/10 + 40*8/10 + 30*9/10 + 20*10/10) / 105 = 89.5
        expect(sup.locator("#qa-status")).to_have_text("评分已保存：坐席 王小丽，总分 89.5")
        expect(sup.locator('#qa-calls .qa-legs li[data-agent="qa-agent"] .qa-given')
               ).to_contain_text("qa-boss 评 89.5 分（待坐席确认）")
        sup.screenshot(path=str(SCREENSHOTS / "console-quality-review.png"), full_page=True)

        # the agent reads the review and acknowledges it
        served.clock.advance(timedelta(minutes=30))
        agent = browser.new_page(locale="zh-CN", viewport={"width": 1280, "height": 1000})
        agent.on("pageerror", lambda exc: errors.append(str(exc)))
        login(agent, "qa-agent")
        mine = agent.locator("#qa-mine li[data-review]")
        expect(mine).to_have_count(1)
        expect(mine).to_contain_text("总分 89.5")
        expect(mine).to_contain_text("评分人 qa-boss")
        expect(mine.locator(".qa-detail")).to_have_text(
            "开场问候 10/10；政策解答准确性 8/10；服务态度 9/10；结束语 10/10")
        expect(mine.locator(".qa-comment-text")).to_have_text(
            "评语：政策答复基本准确，注意核实减免条件。")
        mine.locator("button.qa-ack").click()
        expect(agent.locator("#qa-mine li[data-review] .qa-acked")).to_contain_text("已确认")
        expect(agent.locator("#qa-mine button.qa-ack")).to_have_count(0)
        agent.screenshot(path=str(SCREENSHOTS / "console-quality-agent.png"), full_page=True)

        # the supervisor sees the acknowledgement
        sup.click("#qa-search button")
        expect(sup.locator('#qa-calls .qa-legs li[data-agent="qa-agent"] .qa-given')
               ).to_contain_text("qa-boss 评 89.5 分（坐席已确认）")
        browser.close()
    assert errors == []
    with served.db.session() as session:
        [review] = session.query(Review).all()
    assert (review.total, review.reviewer, review.acknowledged_at) == (
        89.5, "qa-boss", served.clock())
    users = UserService(served.db, served.clock)
    assert [a.actor for a in users.audit_log(action="recording.play")] == ["qa-boss"]
    assert [a.actor for a in users.audit_log(action="quality.review.ack")] == ["qa-agent"]
    for name in ("console-quality-review.png", "console-quality-agent.png"):
        assert (SCREENSHOTS / name).stat().st_size > 20_000
