"""The issue's must-show for knowledge operations, on the real components: in the console
(real chromium) an editor changes an FAQ answer (a wrong field first: its reason shows on the
field), a reviewer publishes it; the next phone call (`hotline serve` on the real Asterisk
sandbox, a SIPp caller pressing 1 1 1) hears the new answer's audio, and the next text
through the real Kannel and its simulated SMSC reads it. Screenshots:
var/screenshots/console-kbops-*.png."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.settings import PROJECT_ROOT, Settings
from ivr.pbx.sandbox import AsteriskSandbox
from ivr.prompts.answers import answer_key
from tests.callcenter.util import PASSWORD, ensure_user
from tests.conftest import fresh_database
from tests.stats.test_pages_browser import CHROMIUM, FLAGS, _browser_missing
from tests.support import PORT_BASE, in_ci, kannel_for_serve, pbx_call, serving

pytestmark = [pytest.mark.asterisk, pytest.mark.kannel, pytest.mark.browser]

ENTRY = "vat.law.effective_date"  # the menu's 1 1 1 (ivr/menus/12366.yaml faq_vat_law)
ADDED = "本答复由知识库维护人员于近日核对更新。"
CALLER = "13800000002"
SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"


def _login(page: object, base: str, username: str) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.goto(f"{base}/console")
    page.fill("#login-username", username)
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    expect(page.locator("#kbops-view")).to_be_visible()


def test_an_edited_answer_published_is_heard_on_the_next_call_and_read_in_the_next_text(
        pbx: AsteriskSandbox, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    reason = _browser_missing()
    if reason:
        if in_ci():
            pytest.fail(f"chromium is required in CI but unavailable: {reason}", pytrace=False)
        pytest.skip(f"chromium unavailable: {reason}")
    http_port = PORT_BASE + 485
    defaults = Settings()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with fresh_database("postgresql", tmp_path) as url, \
            kannel_for_serve(tmp_path, url, http_port, PORT_BASE + 440,
                             HOTLINE_SESSION_COOKIE_SECURE="false") as (kannel, env):
        db = Database(url)
        ensure_user(db, "editor1", "editor")
        ensure_user(db, "reviewer1", "reviewer")
        try:
            with serving(env, http_port, tmp_path / "serve.log") as base, \
                    sync_playwright() as p:
                errors: list[str] = []
                browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                page = browser.new_page(locale="zh-CN", viewport={"width": 1280, "height": 1400})
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                # the editor: finds the entry, a wrong field is refused on that field, then
                # the changed answer is saved as a draft
                _login(page, base, "editor1")
                page.fill("#kbops-q", ENTRY)
                page.click("#kbops-search button[type=submit]")
                page.click(f"li[data-entry='{ENTRY}']")
                expect(page.locator("#kbops-editing")).to_contain_text(ENTRY)
                answer = page.locator("#kbops-form textarea[name=answer]")
                old_answer = answer.input_value()
                assert old_answer
                assert ADDED not in old_answer
                answer.fill("")
                page.click("#kbops-save")
                expect(page.locator("[data-field-error=answer]")).to_contain_text("不能为空")
                new_answer = old_answer + ADDED
                answer.fill(new_answer)
                page.click("#kbops-save")
                expect(page.locator("#kbops-status")).to_contain_text("已保存")
                expect(page.locator("[data-field-error=answer]")).to_have_text("")
                row = page.locator(f"#kbops-drafts tr[data-entry='{ENTRY}']")
                expect(row).to_have_count(1)
                expect(row.locator("button[data-action=publish]")).to_have_count(0)  # own
                page.screenshot(path=str(SCREENSHOTS / "console-kbops-draft.png"),
                                full_page=True)
                page.click("#btn-signout")
                # the reviewer publishes it
                _login(page, base, "reviewer1")
                row = page.locator(f"#kbops-drafts tr[data-entry='{ENTRY}']")
                row.locator("button[data-action=publish]").click()
                expect(page.locator("#kbops-status")).to_contain_text("已发布", timeout=60_000)
                expect(page.locator("#kbops-status")).to_contain_text("知识库已重新加载")
                page.screenshot(path=str(SCREENSHOTS / "console-kbops-published.png"),
                                full_page=True)
                browser.close()
                assert errors == []
                # the next call: 1 1 1 plays the entry's answer, now the new one
                linkedid = pbx_call(env, http_port, "111", CALLER)["linkedid"]
                contact = ContactService(db).get_by_linkedid(linkedid)
                assert contact is not None
                played = [p for e in contact.events if e.kind == "prompt"
                          for p in e.data.get("prompts", ())]
                faqs = [e.data["faq_id"] for e in contact.events if e.kind == "faq_played"]
                assert faqs == [ENTRY]
                heard = f"kb/{answer_key(new_answer, defaults.tts_voice)}"
                old = f"kb/{answer_key(old_answer, defaults.tts_voice)}"
                assert any(heard in p for p in played), played
                assert not any(old in p for p in played), played
                # the rendered audio is there (rendered on publish, not on the call)
                assert (defaults.sounds_dir / f"{heard}.wav").is_file()
                # the next text: the entry's question answered with the new answer
                from knowledge_base import load_data
                question = next(e.question for e in load_data(
                    PROJECT_ROOT / "knowledge_base" / "data").entries if e.id == ENTRY)
                replies = kannel.converse(CALLER, question, timeout=60).replies
                text = "".join(r.text for r in replies)
                assert ADDED in text, text
        finally:
            db.dispose()
