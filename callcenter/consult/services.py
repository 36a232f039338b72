"""Online consultation (网上咨询): a taxpayer proves a mobile number with a code sent by text,
asks a question that the knowledge base tries first, and a question still submitted becomes a
consultation: a contact of channel ``web`` and a ``consult`` ticket with the published reply
deadline (the ticket service's calendar). Agents and experts reply in the console; a reply is
sent by text to the number (the SMS service: its sending limits, Kannel's segments) and shown
on the page.

The code is kept only as a salted hash, expires, allows a few tries and is never logged; the
text that carried it is recorded with the code masked. Sessions are scoped to the verified
number and short; only the token's hash is stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select

from callcenter.auth.services import audit
from callcenter.consult.models import ConsultCode, ConsultReply, ConsultSession
from callcenter.consult.notifier import announce
from callcenter.contacts.services import ContactService
from callcenter.db import Database, lock_key
from callcenter.errors import DomainError, NotFound
from callcenter.notify.services import Notifier
from callcenter.sms.models import MtStatus, SmsMessage
from callcenter.sms.services import SmsService, mask
from callcenter.sms.throttle import HOUR, window_slot
from callcenter.tickets.models import Ticket, TicketKind, TicketStatus
from callcenter.tickets.services import TicketService
from ivr.clock import Clock
from ivr.events import ReplySent
from ivr.ports import ContactEvent, EventKind, FaqSource
from knowledge_base.models import Decision, DecisionKind

log = logging.getLogger(__name__)

WEB_PREFIX = "web-"         # linkedid of a consultation's contact
CODE_DIGITS = 6
MAX_REPLY_CHARS = 1000
MAX_SUGGESTIONS = 3
# a mainland mobile number, with or without +86 / 86 (spaces and dashes are dropped first)
MOBILE = re.compile(r"^(?:\+?86)?(1[3-9][0-9]{9})$")


class ConsultError(DomainError, ValueError):
    """A request of the consultation page refused; ``detail`` is shown on the page (422
    unless the raise says otherwise)."""

    default_status = 422


@dataclass(frozen=True)
class ConsultPolicy:
    """The settings ``consult_*``."""

    code_ttl: timedelta = timedelta(minutes=5)
    max_attempts: int = 5
    resend_after: timedelta = timedelta(seconds=60)
    codes_per_number_hour: int = 5
    codes_per_address_hour: int = 20
    session_ttl: timedelta = timedelta(minutes=30)
    question_max_chars: int = 500
    questions_per_day: int = 10

    @classmethod
    def of(cls, settings: Any) -> ConsultPolicy:
        return cls(code_ttl=timedelta(seconds=settings.consult_code_ttl_s),
                   max_attempts=settings.consult_code_max_attempts,
                   resend_after=timedelta(seconds=settings.consult_code_resend_s),
                   codes_per_number_hour=settings.consult_codes_per_number_hour,
                   codes_per_address_hour=settings.consult_codes_per_address_hour,
                   session_ttl=timedelta(minutes=settings.consult_session_minutes),
                   question_max_chars=settings.consult_question_max_chars,
                   questions_per_day=settings.consult_questions_per_day)


@dataclass(frozen=True)
class CodeSent:
    number: str
    expires_at: datetime
    resend_after_s: int


@dataclass(frozen=True)
class Verified:
    token: str
    number: str
    expires_at: datetime


@dataclass(frozen=True)
class Suggestion:
    id: str
    question: str
    answer: str


@dataclass(frozen=True)
class ReplyView:
    at: datetime
    by: str
    text: str
    sms_status: str


@dataclass(frozen=True)
class Consultation:
    ticket_no: str
    question: str
    number: str
    channel: str                 # web | sms: where the question came from
    status: str
    created_at: datetime
    due_at: datetime
    due_text: str                # 我们将在12月4日17:30前答复
    replies: tuple[ReplyView, ...]
    owner: str | None = None
    linkedid: str = ""           # the contact it came from (web-... or sms-...)


def normalise_mobile(raw: str) -> str:
    """The 11 digits of a mainland mobile number, or :class:`ConsultError` (422)."""
    compact = re.sub(r"[\s-]", "", raw or "")
    match = MOBILE.match(compact)
    if match is None:
        raise ConsultError("请输入正确的11位中国大陆手机号码，如13800138000")
    return match.group(1)


def hash_code(code: str, salt: str) -> str:
    return f"{salt}${hashlib.sha256(f'{salt}:{code}'.encode()).hexdigest()}"


def code_matches(code: str, stored: str) -> bool:
    salt, _, _digest = stored.partition("$")
    return hmac.compare_digest(hash_code(code, salt).encode(), stored.encode())


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def question_of(summary: str) -> str:
    """The taxpayer's words of a consult ticket's summary (``网上咨询：…`` / ``短信咨询：…``)."""
    for prefix in ("网上咨询：", "短信咨询："):
        if summary.startswith(prefix):
            return summary[len(prefix):]
    return summary


class ConsultService:
    def __init__(self, db: Database, clock: Clock, *, sms: SmsService,
                 tickets: TicketService | None, kb: FaqSource | None,
                 policy: ConsultPolicy | None = None, timezone: str = "Asia/Shanghai",
                 notifier: Notifier | None = None) -> None:
        self.db = db
        self.notifier = notifier  # new consultations announced to the console
        self.clock = clock
        self.sms = sms
        self.tickets = tickets
        self.kb = kb
        self.policy = policy or ConsultPolicy()
        self.tz = ZoneInfo(timezone)
        self.contacts = ContactService(db)

    # -- the code ------------------------------------------------------------------------------

    async def send_code(self, raw_number: str, address: str = "") -> CodeSent:
        """Text a new 6-digit code to the number, within the code-sending limits (429 with
        the wait in Chinese otherwise)."""
        number = normalise_mobile(raw_number)
        code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
        code_id, expires = await asyncio.to_thread(self._new_code, number, code, address)
        minutes = max(1, int(self.policy.code_ttl.total_seconds()) // 60)
        text = f"【12366】您的网上咨询验证码为{{}}，{minutes}分钟内有效。请勿告诉他人。"
        mt = await self.sms.send(number, text.format(code), "", "consult_code",
                                 stored_text=text.format("*" * CODE_DIGITS))
        await asyncio.to_thread(self._code_message, code_id, mt.id, mt.status)
        if mt.status == MtStatus.SUPPRESSED:
            raise ConsultError("该手机号短信发送过于频繁，请稍后再获取验证码", 429)
        if mt.status == MtStatus.FAILED:
            raise ConsultError("验证码短信发送失败，请稍后再试或拨打12366热线", 503)
        log.info("consult: code %s sent to %s", code_id, mask(number))
        return CodeSent(number, expires, int(self.policy.resend_after.total_seconds()))

    def _new_code(self, number: str, code: str, address: str) -> tuple[int, datetime]:
        now = self.clock()
        p = self.policy
        with self.db.transaction() as session:
            # two requests at the same moment (a double tap, two tabs) check one at a time
            lock_key(session, f"consult-code:{number}", ConsultCode)
            to_number = list(session.scalars(select(ConsultCode.created_at).where(
                ConsultCode.number == number, ConsultCode.created_at > now - HOUR)))
            from_address = list(session.scalars(select(ConsultCode.created_at).where(
                ConsultCode.address == address[:64], ConsultCode.created_at > now - HOUR))
            ) if address else []
            slot = max(window_slot(now, to_number, p.resend_after, 1),
                       window_slot(now, to_number, HOUR, p.codes_per_number_hour),
                       window_slot(now, from_address, HOUR, p.codes_per_address_hour))
            if slot > now:
                wait = max(1, math.ceil((slot - now).total_seconds()))
                raise ConsultError(f"获取验证码过于频繁，请{_duration(wait)}后再试", 429)
            row = ConsultCode(number=number, code_hash=hash_code(code, secrets.token_hex(8)),
                              address=address[:64], created_at=now,
                              expires_at=now + p.code_ttl, attempts=0)
            session.add(row)
            session.flush()
            return row.id, row.expires_at

    def _code_message(self, code_id: int, message_id: int, status: str) -> None:
        with self.db.transaction() as session:
            row = session.get(ConsultCode, code_id)
            if row is not None:
                row.message_id = message_id
                if status in (MtStatus.SUPPRESSED, MtStatus.FAILED):
                    row.used_at = self.clock()  # never arrived: not a code to guess at

    def verify(self, raw_number: str, code: str) -> Verified:
        """Check the number's latest code; a session for the number on success."""
        number = normalise_mobile(raw_number)
        code = (code or "").strip()
        if not re.fullmatch(rf"[0-9]{{{CODE_DIGITS}}}", code):
            raise ConsultError("请输入短信中的6位数字验证码")
        now = self.clock()
        with self.db.transaction() as session:
            row = session.scalar(select(ConsultCode).where(ConsultCode.number == number)
                                 .order_by(ConsultCode.id.desc()).limit(1).with_for_update())
            if row is None or row.used_at is not None:
                raise ConsultError("请先获取验证码", 400)
            if row.attempts >= self.policy.max_attempts:
                raise ConsultError("验证码错误次数过多，请重新获取验证码", 429)
            if row.expires_at <= now:
                raise ConsultError("验证码已过期，请重新获取", 400)
            if not code_matches(code, row.code_hash):
                row.attempts += 1
                left = self.policy.max_attempts - row.attempts
                if left <= 0:
                    detail, status = "验证码错误次数过多，请重新获取验证码", 429
                else:
                    detail, status = f"验证码错误，还可尝试{left}次", 400
                wrong = True
            else:
                row.used_at = now
                wrong = False
                token = secrets.token_urlsafe(32)
                expires = now + self.policy.session_ttl
                session.execute(delete(ConsultSession).where(ConsultSession.expires_at < now))
                session.add(ConsultSession(token_hash=hash_token(token), number=number,
                                           created_at=now, expires_at=expires))
        if wrong:  # the attempt is counted (committed) before the refusal
            raise ConsultError(detail, status)
        return Verified(token, number, expires)

    # -- the session ---------------------------------------------------------------------------

    def session(self, token: str | None) -> tuple[str, datetime]:
        """The verified number of a session token and when the session ends, or 401."""
        if token:
            with self.db.session() as session:
                row = session.get(ConsultSession, hash_token(token))
                if row is not None and row.expires_at > self.clock():
                    return row.number, row.expires_at
        raise ConsultError("请先验证手机号（未验证或验证已过期）", 401)

    def session_number(self, token: str | None) -> str:
        """The verified number of a session token, or 401."""
        return self.session(token)[0]

    def end_session(self, token: str | None) -> None:
        if token:
            with self.db.transaction() as session:
                session.execute(delete(ConsultSession)
                                .where(ConsultSession.token_hash == hash_token(token)))

    # -- suggestions and questions ---------------------------------------------------------------

    def _checked_question(self, text: str) -> str:
        question = " ".join((text or "").split())
        if not question:
            raise ConsultError("请填写您的问题")
        if len(question) < 2:
            raise ConsultError("问题太短，请描述您要咨询的内容")
        limit = self.policy.question_max_chars
        if len(question) > limit:
            raise ConsultError(f"问题最多{limit}字，当前{len(question)}字，请精简后再提交")
        return question

    def suggest(self, text: str) -> tuple[str, list[Suggestion]]:
        """The knowledge base's decision on the words typed so far, and the entries it
        offers (their answers): the same ``decide`` as the phone and the texts."""
        question = " ".join((text or "").split())
        if len(question) > self.policy.question_max_chars:
            raise ConsultError(f"问题最多{self.policy.question_max_chars}字")
        if len(question) < 2 or self.kb is None:
            return "none", []
        decision = self._decide(question)
        if decision is None:
            return "none", []
        if decision.kind is DecisionKind.DECLINE:
            return decision.kind.value, []
        entries = [self.kb.get(r.id) for r in decision.results[:MAX_SUGGESTIONS]]
        return decision.kind.value, [Suggestion(e.id, e.question, e.answer) for e in entries]

    def _decide(self, question: str) -> Decision | None:
        """The knowledge base's decision; None without one or when it fails (the page
        then shows no suggestions, and a question is still taken)."""
        if self.kb is None:
            return None
        try:
            return self.kb.decide(question)
        except Exception:
            log.exception("consult: the knowledge base failed on a question")
            return None

    def ask(self, number: str, text: str) -> Consultation:
        """A submitted question: a contact of channel web and a consult ticket with its
        reply deadline."""
        question = self._checked_question(text)
        if self.tickets is None:
            raise ConsultError("网上咨询暂不可用，请稍后再试或拨打12366热线", 503)
        now = self.clock()
        with self.db.session() as session:
            today = session.scalar(select(func.count()).select_from(Ticket).where(
                Ticket.caller == number, Ticket.linkedid.like(f"{WEB_PREFIX}%"),
                Ticket.created_at > now - timedelta(days=1))) or 0
        if today >= self.policy.questions_per_day:
            raise ConsultError(f"每个手机号24小时内最多提交{self.policy.questions_per_day}"
                               "个咨询，请稍后再提交或拨打12366热线", 429)
        linkedid = f"{WEB_PREFIX}{uuid.uuid4().hex[:24]}"
        decision = self._decide(question)
        ticket = self.tickets.create(str(TicketKind.CONSULT), number, linkedid, None,
                                     f"网上咨询：{question}", by="web")
        events: list[tuple[EventKind, dict[str, Any]]] = [
            (EventKind.CALL_STARTED, {"caller": number, "channel": "WEB/consult",
                                      "medium": "web", "uniqueid": linkedid})]
        if decision is not None:
            events.append((EventKind.FAQ_DECISION, {
                "node": "web", "text": question, "decision": decision.kind.value,
                "score": round(decision.score, 4),
                "candidates": [r.id for r in decision.results]}))
        events += [
            (EventKind.ESCALATED, {"node": "web", "faq_id": None, "queue": "consult",
                                   "reason": "submitted", "text": question}),
            (EventKind.TICKET, {"ticket_no": ticket.ticket_no, "type": "consult",
                                "due_at": ticket.due_at.isoformat(), "by": "web"}),
            (EventKind.OUTCOME, {"outcome": "message_left", "node": "web"}),
            (EventKind.CALL_ENDED, {"cause": 16, "cause_txt": "web", "reconciled": False})]
        for kind, data in events:
            self.contacts.apply(ContactEvent.parse(linkedid, kind, data, at=now))
        announce(self.notifier, ticket, "web", question)
        return self._view(ticket, [])

    def consultations(self, number: str, limit: int = 50) -> list[Consultation]:
        """The number's web consultations, newest first, with their replies."""
        with self.db.session() as session:
            tickets = list(session.scalars(
                select(Ticket).where(Ticket.caller == number,
                                     Ticket.linkedid.like(f"{WEB_PREFIX}%"),
                                     Ticket.kind == str(TicketKind.CONSULT))
                .order_by(Ticket.id.desc()).limit(limit)))
            replies = self._replies(session, [t.id for t in tickets])
            return [self._view(t, replies.get(t.id, [])) for t in tickets]

    # -- the staff's side -----------------------------------------------------------------------

    def consultation(self, ticket_no: str) -> Consultation:
        """One consult ticket (web or sms) with its replies; 404 / 409 otherwise."""
        with self.db.session() as session:
            ticket = session.scalar(select(Ticket).where(Ticket.ticket_no == ticket_no))
            if ticket is None:
                raise NotFound(f"工单 {ticket_no} 不存在")
            if ticket.kind != TicketKind.CONSULT:
                raise ConsultError(f"工单 {ticket_no} 不是咨询工单", 409)
            return self._view(ticket, self._replies(session, [ticket.id]).get(ticket.id, []))

    async def reply(self, ticket_no: str, text: str, by: str) -> Consultation:
        """Send a reply by text to the consultation's number, keep it, and mark the ticket
        answered (its first answer is what the reply-on-time figure reads)."""
        body = (text or "").strip()
        if not body:
            raise ConsultError("请填写答复内容")
        if len(body) > MAX_REPLY_CHARS:
            raise ConsultError(f"答复最多{MAX_REPLY_CHARS}字，当前{len(body)}字")
        current = await asyncio.to_thread(self.consultation, ticket_no)
        if current.status == TicketStatus.CLOSED:
            raise ConsultError(f"工单 {ticket_no} 已办结，不能再答复", 409)
        if self.tickets is None:
            raise ConsultError("工单服务暂不可用", 503)
        mt = await self.sms.send(current.number,
                                 f"【12366】您的咨询（工单号{ticket_no}）答复：{body}",
                                 current.linkedid, "consult_reply")
        await asyncio.to_thread(self._store_reply, ticket_no, body, by, mt.id)
        if current.linkedid:  # on the contact's timeline too, after its end (like a survey)
            await asyncio.to_thread(self.contacts.apply, ContactEvent(
                current.linkedid, ReplySent(ticket_no=ticket_no, by=by[:128],
                                            message_id=mt.id, chars=len(body)),
                at=self.clock()))
        tickets = self.tickets
        if current.status == TicketStatus.OPEN:
            await asyncio.to_thread(tickets.change_status, ticket_no, "in_progress", by,
                                    "答复咨询")
        if current.status in (TicketStatus.OPEN, TicketStatus.IN_PROGRESS):
            await asyncio.to_thread(tickets.change_status, ticket_no, "answered", by,
                                    "已答复（短信）")
        return await asyncio.to_thread(self.consultation, ticket_no)

    def _store_reply(self, ticket_no: str, text: str, by: str, message_id: int) -> None:
        with self.db.transaction() as session:
            ticket_id = session.scalar(select(Ticket.id).where(Ticket.ticket_no == ticket_no))
            assert ticket_id is not None
            now = self.clock()
            session.add(ConsultReply(ticket_id=ticket_id, at=now, by=by[:128], text=text,
                                     message_id=message_id))
            audit(session, by, "consult.reply", ticket_no, at=now, message_id=message_id)

    # -- views -----------------------------------------------------------------------------------

    def _replies(self, session: Any, ticket_ids: Sequence[int]) -> dict[int, list[ReplyView]]:
        if not ticket_ids:
            return {}
        rows = session.execute(
            select(ConsultReply, SmsMessage.status)
            .outerjoin(SmsMessage, SmsMessage.id == ConsultReply.message_id)
            .where(ConsultReply.ticket_id.in_(list(ticket_ids))).order_by(ConsultReply.id)).all()
        out: dict[int, list[ReplyView]] = {}
        for reply, status in rows:
            out.setdefault(reply.ticket_id, []).append(
                ReplyView(reply.at, reply.by, reply.text, status or ""))
        return out

    def due_text(self, due_at: datetime) -> str:
        local = due_at.astimezone(self.tz)
        return f"我们将在{local.month}月{local.day}日{local:%H:%M}前答复"

    def _view(self, ticket: Ticket, replies: list[ReplyView]) -> Consultation:
        return Consultation(
            ticket_no=ticket.ticket_no, question=question_of(ticket.summary),
            number=ticket.caller,
            channel="web" if ticket.linkedid.startswith(WEB_PREFIX) else "sms",
            status=ticket.status, created_at=ticket.created_at, due_at=ticket.due_at,
            due_text=self.due_text(ticket.due_at), replies=tuple(replies), owner=ticket.owner,
            linkedid=ticket.linkedid)


def _duration(seconds: int) -> str:
    if seconds <= 60:
        return f"{seconds}秒"
    return f"{-(-seconds // 60)}分钟"
