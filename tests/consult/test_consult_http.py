"""The consultation over HTTP on SQLite and PostgreSQL: the page's calls (code, session,
suggestions, questions) with their Chinese 4xx reasons, the console's view and reply (the
tickets' ownership rule), the page served, and the web channel's reply-on-time figure in the
statistics."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from callcenter.app import create_app
from callcenter.db import Database
from callcenter.settings import Settings
from callcenter.sms.services import SmsService
from knowledge_base.models import DecisionKind
from tests.callcenter.util import bearer, token_for
from tests.consult.conftest import clean
from tests.sms.fakes import SentTexts
from tests.sms.test_sms_gateway import ShiftedClock as MovableClock
from tests.sms.test_sms_services import StubKb

PHONE = "13800138000"
API = "/api/v1/consult"


@dataclass
class Site:
    client: TestClient
    gateway: SentTexts
    kb: StubKb
    clock: MovableClock
    db: Database

    def code(self, number: str = PHONE) -> str:
        text = [t for n, t, _i in self.gateway.sent if n == number][-1]
        return text.split("验证码为", 1)[1][:6]

    def verify(self, number: str = PHONE) -> None:
        assert self.client.post(f"{API}/code", json={"phone": number}).status_code == 202
        answer = self.client.post(f"{API}/session", json={"phone": number,
                                                          "code": self.code(number)})
        assert answer.status_code == 200, answer.text


@pytest.fixture
def site(db_url: str, database: Database) -> Iterator[Site]:
    clean(database)
    clock, gateway, kb = MovableClock(), SentTexts(), StubKb()
    settings = Settings(database_url=db_url, ami_enabled=False, kb_enabled=False,
                        sms_survey_enabled=False)
    app = create_app(settings, clock)
    with TestClient(app, base_url="https://testserver") as client:
        app.state.knowledge_base = kb
        app.state.sms = SmsService(database, clock, kb=None, tickets=None, sender=gateway)
        yield Site(client, gateway, kb, clock, database)


def detail(response: object) -> tuple[int, str]:
    status = response.status_code  # type: ignore[attr-defined]
    return status, response.json()["detail"]  # type: ignore[attr-defined]


def test_a_taxpayer_asks_and_an_agent_replies(site: Site) -> None:
    client = site.client
    sent = client.post(f"{API}/code", json={"phone": "+86 138-0013-8000"})
    assert sent.status_code == 202
    assert sent.json()["phone"] == "138****8000"
    assert sent.json()["resend_after_s"] == 60
    assert detail(client.post(f"{API}/session", json={"phone": PHONE, "code": "abcdef"})) == (
        422, "请输入短信中的6位数字验证码")
    code = site.code()
    wrong = "000000" if code != "000000" else "111111"
    assert detail(client.post(f"{API}/session", json={"phone": PHONE, "code": wrong})) == (
        400, "验证码错误，还可尝试4次")
    verified = client.post(f"{API}/session", json={"phone": PHONE, "code": code})
    assert verified.status_code == 200
    cookie = verified.headers["set-cookie"]
    assert "hotline_consult=" in cookie
    assert "HttpOnly" in cookie
    assert "Path=/api/v1/consult" in cookie
    assert "samesite=strict" in cookie.lower()
    assert client.get(f"{API}/session").json()["phone"] == "138****8000"

    site.kb.kind, site.kb.ids = DecisionKind.ANSWER, ["a", "b"]
    suggestions = client.get(f"{API}/suggest", params={"q": "个税汇算什么时候"}).json()
    assert suggestions["decision"] == "answer"
    assert [s["answer"] for s in suggestions["suggestions"]] == [
        site.kb.get("a").answer, "短答案。"]

    site.kb.kind = DecisionKind.DECLINE
    assert detail(client.post(f"{API}/questions", json={"question": " "})) == (
        422, "请填写您的问题")
    assert detail(client.post(f"{API}/questions", json={"question": "问" * 501})) == (
        422, "问题最多500字，当前501字，请精简后再提交")
    asked = client.post(f"{API}/questions", json={"question": "我公司跨省迁移，税款怎么清算？"})
    assert asked.status_code == 201, asked.text
    consultation = asked.json()
    assert consultation["due_text"].startswith("我们将在")
    assert consultation["due_text"].endswith("前答复")
    assert consultation["status"] == "open"
    ticket = consultation["ticket_no"]

    agent = bearer(token_for(site.db, "agent1", "agent"))
    listed = client.get("/api/v1/tickets", params={"kind": "consult"}, headers=agent).json()
    assert [(t["ticket_no"], t["linkedid"][:4]) for t in listed] == [(ticket, "web-")]
    seen = client.get(f"/api/v1/consultations/{ticket}", headers=agent).json()
    assert (seen["phone"], seen["channel"], seen["question"]) == (
        PHONE, "web", "我公司跨省迁移，税款怎么清算？")
    assert detail(client.post(f"/api/v1/consultations/{ticket}/reply", json={"text": ""},
                              headers=agent)) == (422, "请填写答复内容")
    site.clock.offset += timedelta(minutes=10)
    replied = client.post(f"/api/v1/consultations/{ticket}/reply",
                          json={"text": "请先在迁出地办理清税。"}, headers=agent)
    assert replied.status_code == 200, replied.text
    assert replied.json()["owner"] == "agent1"
    assert replied.json()["status"] == "answered"
    assert site.gateway.sent[-1][:2] == (
        PHONE, f"【12366】您的咨询（工单号{ticket}）答复：请先在迁出地办理清税。")
    mine = client.get(f"{API}/questions").json()
    assert [r["text"] for r in mine[0]["replies"]] == ["请先在迁出地办理清税。"]
    assert "phone" not in mine[0]  # the page's own number is not echoed back per item

    # the web channel's consultations replied within their deadline
    boss = bearer(token_for(site.db, "boss1", "supervisor"))
    # from the day it was asked to today (the new-year's-eve run crosses midnight meanwhile)
    shanghai = ZoneInfo("Asia/Shanghai")
    asked_on = datetime.fromisoformat(consultation["created_at"]).astimezone(shanghai).date()
    today = site.clock().astimezone(shanghai).date()
    stats = client.get("/api/v1/stats/channels", headers=boss, params={
        "from": asked_on.isoformat(), "to": today.isoformat(), "channel": "web"})
    assert stats.status_code == 200, stats.text
    web = stats.json()["items"][0]
    assert (web["channel"], web["contacts"], web["tickets"], web["tickets_due"],
            web["tickets_on_time"], web["reply_on_time_rate"]) == ("web", 1, 1, 1, 1, 1.0)

    assert client.delete(f"{API}/session").status_code == 204
    assert detail(client.get(f"{API}/questions"))[0] == 401


@pytest.mark.parametrize(("body", "reason"), [
    ({"phone": "12345"}, "请输入正确的11位中国大陆手机号码，如13800138000"),
    ({"phone": "1380013800a"}, "请输入正确的11位中国大陆手机号码，如13800138000"),
    ({"phone": 13800138000}, "“phone”须为文本"),
    ({}, "缺少“phone”"),
    ({"phone": PHONE, "extra": 1}, "不认识的字段“extra”"),
    ({"phone": "1" * 40}, "“phone”最多 32 个字"),
])
def test_bad_numbers_are_4xx_in_chinese(site: Site, body: object, reason: str) -> None:
    assert detail(site.client.post(f"{API}/code", json=body)) == (422, reason)
    assert site.gateway.sent == []


def test_codes_are_rate_limited_and_expire(site: Site) -> None:
    client = site.client
    site.clock.freeze()  # the wait is told to the second: no time passes between the two asks
    assert client.post(f"{API}/code", json={"phone": PHONE}).status_code == 202
    assert detail(client.post(f"{API}/code", json={"phone": PHONE})) == (
        429, "获取验证码过于频繁，请60秒后再试")
    code = site.code()
    site.clock.offset += timedelta(minutes=6)
    assert detail(client.post(f"{API}/session", json={"phone": PHONE, "code": code})) == (
        400, "验证码已过期，请重新获取")
    assert len(site.gateway.sent) == 1


def test_the_page_needs_a_verified_number_and_the_session_is_short(site: Site) -> None:
    client = site.client
    for method, path in (("GET", "/questions"), ("POST", "/questions"), ("GET", "/suggest"),
                         ("GET", "/session")):
        response = client.request(method, f"{API}{path}", json={"question": "个税汇算"}
                                  if method == "POST" else None)
        assert detail(response) == (401, "请先验证手机号（未验证或验证已过期）")
    site.verify()
    assert client.get(f"{API}/questions").json() == []
    site.clock.offset += timedelta(minutes=31)
    assert detail(client.get(f"{API}/questions"))[0] == 401
    # a forged cookie is no session
    client.cookies.set("hotline_consult", "forged", domain="testserver", path=API)
    assert detail(client.get(f"{API}/questions"))[0] == 401


def test_one_number_sees_only_its_own_consultations(site: Site) -> None:
    site.kb.kind = DecisionKind.DECLINE
    site.verify()
    assert site.client.post(f"{API}/questions",
                            json={"question": "第一个号码的问题"}).status_code == 201
    site.client.cookies.clear()
    site.verify("13900139000")
    assert site.client.get(f"{API}/questions").json() == []


def test_replies_follow_the_tickets_ownership(site: Site) -> None:
    site.kb.kind = DecisionKind.DECLINE
    site.verify()
    ticket = site.client.post(f"{API}/questions",
                              json={"question": "一个需要专家答复的问题"}).json()["ticket_no"]
    expert = bearer(token_for(site.db, "expert1", "expert"))
    agent = bearer(token_for(site.db, "agent1", "agent"))
    assert site.client.post(f"/api/v1/tickets/{ticket}/owner", json={"owner": "expert1"},
                            headers=expert).status_code == 200
    status, reason = detail(site.client.post(f"/api/v1/consultations/{ticket}/reply",
                                             json={"text": "答复"}, headers=agent))
    assert status == 403
    assert "expert1" in reason
    assert site.client.post(f"/api/v1/consultations/{ticket}/reply", json={"text": "答复"},
                            headers=expert).status_code == 200
    assert detail(site.client.get("/api/v1/consultations/00000000", headers=agent)) == (
        404, "工单 00000000 不存在")
    assert site.client.get(f"/api/v1/consultations/{ticket}").status_code == 401


def test_the_page_is_served(site: Site) -> None:
    page = site.client.get("/consult")
    assert page.status_code == 200
    assert "12366 网上咨询" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert site.client.get("/consult/static/consult.js").status_code == 200
    assert detail(site.client.get("/consult/static/nothing.js")) == (404, "文件不存在")
