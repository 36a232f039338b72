"""The consultation service on SQLite and PostgreSQL: the code by text (hashed, masked in the
record, expiring, limited tries, limited sending), the session, suggestions from the
knowledge base's decision, a question becoming a web contact and a consult ticket with its
deadline, the reply by text and the reply-on-time figure of the web channel."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from callcenter.auth.models import AuditEntry
from callcenter.consult.models import ConsultCode, ConsultReply, ConsultSession
from callcenter.consult.services import normalise_mobile
from callcenter.contacts.models import Contact
from callcenter.errors import DomainError
from callcenter.notify.messages import ConsultationSubmitted, Notification
from callcenter.notify.services import Message, Notifier
from callcenter.sms.codec import segments
from callcenter.sms.models import SmsMessage
from callcenter.tickets.models import Ticket, TicketStatusChange
from callcenter.tickets.reporting import TicketTableSource
from knowledge_base.models import DecisionKind
from tests.consult.conftest import Consult

PHONE = "13800138000"


def refused(call: Callable[..., Any], *args: object) -> DomainError:
    """The domain error ``call(*args)`` raises (a coroutine is run)."""

    def run() -> None:
        result = call(*args)
        if asyncio.iscoroutine(result):
            asyncio.run(result)

    with pytest.raises(DomainError) as caught:
        run()
    return caught.value


def verified(consult: Consult, number: str = PHONE) -> str:
    asyncio.run(consult.service.send_code(number, "10.0.0.1"))
    return consult.service.verify(number, consult.last_code(number)).token


@pytest.mark.parametrize("raw", ["13800138000", "+8613800138000", "138 0013 8000",
                                 "86-138-0013-8000"])
def test_mainland_mobiles_are_read(raw: str) -> None:
    assert normalise_mobile(raw) == PHONE


@pytest.mark.parametrize("raw", ["", "12366", "12800138000", "1380013800", "138001380001",
                                 "abc13800138000", "+1 13800138000"])
def test_other_numbers_are_refused_in_chinese(raw: str) -> None:
    error = refused(normalise_mobile, raw)
    assert error.status == 422
    assert "11位中国大陆手机号码" in error.detail


def test_the_code_goes_by_text_and_is_kept_only_hashed(
        consult: Consult, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sent = asyncio.run(consult.service.send_code("+86 138 0013 8000", "10.0.0.1"))
    assert sent.number == PHONE
    assert timedelta(minutes=4) < sent.expires_at - consult.clock() <= timedelta(minutes=5)
    code = consult.last_code(PHONE)
    assert code.isdigit()
    assert len(code) == 6
    with consult.db.session() as session:
        row = session.scalars(select(ConsultCode)).one()
        text = session.scalars(select(SmsMessage.text)).one()
        message = session.scalars(select(SmsMessage)).one()
    assert code not in row.code_hash
    assert code not in text
    assert "******" in text
    assert message.intent == "consult_code"
    assert message.segments == 1
    assert row.message_id == message.id
    assert code not in caplog.text


def test_a_wrong_code_counts_and_too_many_tries_end_the_code(consult: Consult) -> None:
    asyncio.run(consult.service.send_code(PHONE))
    code = consult.last_code(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    first = refused(consult.service.verify, PHONE, wrong)
    assert (first.status, first.detail) == (400, "验证码错误，还可尝试4次")
    for _ in range(3):
        refused(consult.service.verify, PHONE, wrong)
    last = refused(consult.service.verify, PHONE, wrong)
    assert (last.status, last.detail) == (429, "验证码错误次数过多，请重新获取验证码")
    # the right code no longer helps
    after = refused(consult.service.verify, PHONE, code)
    assert after.status == 429
    bad = refused(consult.service.verify, PHONE, "12ab")
    assert (bad.status, bad.detail) == (422, "请输入短信中的6位数字验证码")


def test_a_code_expires_and_is_used_once(consult: Consult) -> None:
    asyncio.run(consult.service.send_code(PHONE))
    code = consult.last_code(PHONE)
    consult.clock.offset += timedelta(minutes=5, seconds=1)
    late = refused(consult.service.verify, PHONE, code)
    assert (late.status, late.detail) == (400, "验证码已过期，请重新获取")
    consult.clock.offset += timedelta(minutes=1)
    asyncio.run(consult.service.send_code(PHONE))
    fresh = consult.last_code(PHONE)
    session = consult.service.verify(PHONE, fresh)
    assert consult.service.session_number(session.token) == PHONE
    again = refused(consult.service.verify, PHONE, fresh)
    assert (again.status, again.detail) == (400, "请先获取验证码")
    none = refused(consult.service.verify, "13900139000", fresh)
    assert none.detail == "请先获取验证码"


def test_codes_are_rate_limited_per_number_and_per_address(consult: Consult) -> None:
    service = consult.service
    consult.clock.freeze()  # the wait is told to the second: no time passes between the two
    asyncio.run(service.send_code(PHONE, "10.0.0.1"))
    soon = refused(service.send_code, PHONE, "10.0.0.1")
    assert soon.status == 429
    assert soon.detail == "获取验证码过于频繁，请60秒后再试"
    for _ in range(4):
        consult.clock.offset += timedelta(seconds=61)
        asyncio.run(service.send_code(PHONE, "10.0.0.2"))
    consult.clock.offset += timedelta(seconds=61)
    hourly = refused(service.send_code, PHONE, "10.0.0.3")   # 5 an hour to one number
    assert hourly.status == 429
    assert "分钟后再试" in hourly.detail
    assert len(consult.gateway.sent) == 5
    # one address asking for many numbers (20 an hour by default; 3 here)
    service.policy = type(service.policy)(codes_per_address_hour=3)
    for n in range(3):
        asyncio.run(service.send_code(f"1390013900{n}", "10.9.9.9"))
    many = refused(service.send_code, "13900139009", "10.9.9.9")
    assert many.status == 429


def test_requests_at_the_same_moment_get_one_code(consult: Consult) -> None:
    """A double tap, or two tabs: six requests for one number at once, each in its own
    thread and transaction, check the limits one at a time: one code, five refusals."""
    service = consult.service
    start = threading.Barrier(6)

    def ask(n: int) -> str:
        start.wait()
        try:
            service._new_code(PHONE, f"00000{n}", f"10.0.1.{n}")
        except DomainError as error:
            return f"{error.status} {error.detail}"
        return "sent"

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(ask, range(6)))
    assert answers.count("sent") == 1, answers
    # the wait is a minute from the code sent (the suite's clock runs on meanwhile)
    assert all(a.startswith("429 获取验证码过于频繁，请") for a in answers if a != "sent"), answers
    with consult.db.session() as session:
        assert session.scalar(select(func.count()).select_from(ConsultCode)) == 1


def test_a_code_over_the_sms_limits_is_not_held_but_refused(consult: Consult) -> None:
    """A verification code that cannot go now is worthless later: over the SMS sending
    limits it is suppressed (never sent, never stored in clear) and the page is told."""
    for _ in range(5):  # the number's 5 texts of this minute
        asyncio.run(consult.sms.send(PHONE, "其他短信"))
    error = refused(consult.service.send_code, PHONE)
    assert (error.status, error.detail) == (429, "该手机号短信发送过于频繁，请稍后再获取验证码")
    with consult.db.session() as session:
        statuses = list(session.scalars(select(SmsMessage.status)
                                        .where(SmsMessage.intent == "consult_code")))
    assert statuses == ["suppressed"]
    assert len(consult.gateway.sent) == 5


def test_a_code_the_gateway_refuses_is_a_503(consult: Consult) -> None:
    consult.gateway.refuse = True
    error = refused(consult.service.send_code, PHONE)
    assert error.status == 503
    assert "发送失败" in error.detail


def test_sessions_are_scoped_and_expire(consult: Consult) -> None:
    token = verified(consult)
    assert consult.service.session_number(token) == PHONE
    with consult.db.session() as session:
        stored = session.scalars(select(ConsultSession.token_hash)).one()
    assert stored != token  # the hash only
    for bad in (None, "", "forged"):
        assert refused(consult.service.session_number, bad).status == 401
    consult.clock.offset += timedelta(minutes=31)
    assert refused(consult.service.session_number, token).status == 401
    token2 = verified(consult)
    consult.service.end_session(token2)
    assert refused(consult.service.session_number, token2).status == 401


def test_suggestions_are_the_decisions_entries_with_their_answers(consult: Consult) -> None:
    kb, service = consult.kb, consult.service
    kb.kind, kb.ids = DecisionKind.CONFIRM, ["a", "b"]
    decision, found = service.suggest("个税汇算")
    assert decision == "confirm"
    assert [(s.id, s.answer) for s in found] == [("a", kb.get("a").answer),
                                                 ("b", "短答案。")]
    kb.kind = DecisionKind.DECLINE
    assert service.suggest("明天会下雨吗") == ("decline", [])
    assert service.suggest("个") == ("none", [])
    assert refused(service.suggest, "问" * 501).status == 422


def test_a_question_becomes_a_web_contact_and_a_consult_ticket(consult: Consult) -> None:
    consult.kb.kind = DecisionKind.DECLINE
    c = consult.service.ask(PHONE, "  我公司跨省迁移，  未缴清的税款怎么处理？ ")
    assert c.question == "我公司跨省迁移， 未缴清的税款怎么处理？"
    assert c.channel == "web"
    assert c.status == "open"
    with consult.db.session() as session:
        ticket = session.scalars(select(Ticket)).one()
        contact = session.scalars(select(Contact)).one()
    assert ticket.kind == "consult"
    assert ticket.caller == PHONE
    assert ticket.due_at == consult.service.tickets.due_at("consult", ticket.created_at)  # type: ignore[union-attr]
    local = ticket.due_at.astimezone(consult.service.tz)
    assert c.due_text == f"我们将在{local.month}月{local.day}日{local:%H:%M}前答复"
    assert (contact.medium, contact.linkedid, contact.caller_number, contact.outcome) == (
        "web", ticket.linkedid, PHONE, "message_left")
    assert [m.ticket_no for m in consult.service.consultations(PHONE)] == [c.ticket_no]
    assert consult.service.consultations("13900139000") == []


async def test_a_submitted_question_is_announced_to_the_console(consult: Consult) -> None:
    bus = Notifier(consult.clock)
    listener = bus.subscribe("consult")
    consult.service.notifier = bus
    c = consult.service.ask(PHONE, "我公司跨省迁移，未缴清的税款怎么处理？" + "问" * 300)
    message = await listener.get(1)
    note = message.notification()
    assert isinstance(note, ConsultationSubmitted)
    assert (note.ticket_no, note.channel, note.number_masked) == (c.ticket_no, "web",
                                                                   "138****8000")
    assert note.question.startswith("我公司跨省迁移")
    assert len(note.question) == 200
    assert note.due_at == c.due_at.isoformat()
    assert listener.queue.empty()  # one notification a question


def test_a_notifier_that_fails_costs_nothing_of_the_question(consult: Consult) -> None:
    class Broken(Notifier):
        def publish(self, topic: str, note: Notification) -> Message:
            raise RuntimeError("bus down")

    consult.service.notifier = Broken(consult.clock)
    c = consult.service.ask(PHONE, "发票丢了怎么办？")
    assert [m.ticket_no for m in consult.service.consultations(PHONE)] == [c.ticket_no]


@pytest.mark.parametrize(("text", "detail"), [
    ("", "请填写您的问题"), ("   ", "请填写您的问题"), ("税", "问题太短，请描述您要咨询的内容"),
    ("问" * 501, "问题最多500字，当前501字，请精简后再提交")])
def test_empty_short_and_long_questions_are_refused(consult: Consult, text: str,
                                                    detail: str) -> None:
    error = refused(consult.service.ask, PHONE, text)
    assert (error.status, error.detail) == (422, detail)
    with consult.db.session() as session:
        assert session.scalars(select(Ticket)).all() == []


def test_questions_a_day_are_limited(consult: Consult) -> None:
    consult.service.policy = type(consult.service.policy)(questions_per_day=2)
    consult.service.ask(PHONE, "第一个问题")
    consult.service.ask(PHONE, "第二个问题")
    error = refused(consult.service.ask, PHONE, "第三个问题")
    assert error.status == 429
    assert "最多提交2个咨询" in error.detail
    consult.clock.offset += timedelta(days=1, seconds=1)
    consult.service.ask(PHONE, "第三个问题")


def test_a_reply_goes_by_text_in_segments_and_answers_the_ticket(consult: Consult) -> None:
    c = consult.service.ask(PHONE, "跨省迁移的企业如何清税？")
    answer = "您好，企业跨省迁移需先在迁出地办理清税，" * 4
    consult.clock.offset += timedelta(hours=2)
    replied = asyncio.run(consult.service.reply(c.ticket_no, answer, "agent1"))
    assert replied.status == "answered"
    assert [(r.by, r.text) for r in replied.replies] == [("agent1", answer.strip())]
    number, text, _id = consult.gateway.sent[-1]
    assert number == PHONE
    assert text == f"【12366】您的咨询（工单号{c.ticket_no}）答复：{answer.strip()}"
    with consult.db.session() as session:
        mt = session.scalars(select(SmsMessage).where(SmsMessage.intent == "consult_reply")).one()
        history = list(session.scalars(select(TicketStatusChange.to_status)
                                       .order_by(TicketStatusChange.id)))
        assert session.scalars(select(ConsultReply)).one().message_id == mt.id
    assert mt.segments == segments(text) > 1
    assert mt.linkedid == c.linkedid
    assert history == ["open", "in_progress", "answered"]
    # the page shows it
    assert consult.service.consultations(PHONE)[0].replies[0].text == answer.strip()
    # a second reply is kept and sent too; the ticket stays answered
    asyncio.run(consult.service.reply(c.ticket_no, "补充说明。", "expert1"))
    assert [r.by for r in consult.service.consultation(c.ticket_no).replies] == [
        "agent1", "expert1"]
    # both replies are on the web contact's timeline, after its end; the contact is unchanged
    contact = consult.service.contacts.get_by_linkedid(c.linkedid)
    assert contact is not None
    replies = [e.data for e in contact.events if e.kind == "reply"]
    assert replies == [
        {"ticket_no": c.ticket_no, "by": "agent1", "channel": "sms", "message_id": mt.id,
         "chars": len(answer.strip())},
        {"ticket_no": c.ticket_no, "by": "expert1", "channel": "sms",
         "message_id": consult.gateway.sent[-1][2], "chars": 5}]
    assert [e.kind for e in contact.events][-3:] == ["call_ended", "reply", "reply"]
    assert contact.outcome == "message_left"
    # the web channel's reply-on-time figure reads it: due by now? no -> counted when settled
    start = c.created_at - timedelta(hours=1)
    facts = TicketTableSource(consult.db).tickets(start, start + timedelta(days=1))
    assert [(f.channel, f.closed_at is not None and f.closed_at <= f.due_at)  # type: ignore[operator]
            for f in facts] == [("web", True)]


def test_bad_replies_are_refused(consult: Consult) -> None:
    c = consult.service.ask(PHONE, "跨省迁移的企业如何清税？")
    assert refused(consult.service.reply, c.ticket_no, "  ", "a").detail == "请填写答复内容"
    assert refused(consult.service.reply, c.ticket_no, "答" * 1001, "a").status == 422
    assert refused(consult.service.reply, "99999999", "答复", "a").status == 404
    consult.service.tickets.change_status(c.ticket_no, "closed", "boss")  # type: ignore[union-attr]
    closed = refused(consult.service.reply, c.ticket_no, "答复", "a")
    assert closed.status == 409
    other = consult.service.tickets.create("complaint", PHONE, "", None)  # type: ignore[union-attr]
    assert refused(consult.service.consultation, other.ticket_no).status == 409
    assert consult.gateway.sent == []


def test_a_failing_knowledge_base_costs_the_suggestions_not_the_question(
        consult: Consult) -> None:
    def broken(query: str, top: int = 3) -> object:
        raise RuntimeError("index gone")

    consult.kb.decide = broken  # type: ignore[method-assign,assignment]
    assert consult.service.suggest("个税汇算什么时候开始") == ("none", [])
    c = consult.service.ask(PHONE, "个税汇算什么时候开始")
    assert c.status == "open"


def test_a_reply_is_audited(consult: Consult) -> None:
    c = consult.service.ask(PHONE, "跨省迁移的企业如何清税？")
    asyncio.run(consult.service.reply(c.ticket_no, "答复。", "agent1"))
    with consult.db.session() as session:
        entries = list(session.scalars(select(AuditEntry).where(
            AuditEntry.action == "consult.reply")))
        message = session.scalars(select(SmsMessage.id).where(
            SmsMessage.intent == "consult_reply")).one()
    assert [(e.actor, e.target, e.detail) for e in entries] == [
        ("agent1", c.ticket_no, {"message_id": message})]
