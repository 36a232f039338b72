"""What 12366 answers a text, and the texts' record.

:class:`SmsService` takes one mobile-originated text (from smsbox's get-url), decides the reply
with the same services as the phone — the knowledge base's answer/confirm/decline decision,
the invoice registry, the ticket desk — sends it through smsbox's sendsms (a
:class:`SmsSender`) with a delivery-report URL, records both texts and logs the exchange as a
contact of medium ``sms`` (one contact per text received, linkedid ``sms-...``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from callcenter.bookings.services import BookingService
from callcenter.consult.notifier import announce
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.invoices.services import InvoiceService
from callcenter.notify.services import Notifier
from callcenter.sms.codec import segments
from callcenter.sms.models import (
    DLR_STATUS,
    STATUS_RANK,
    Direction,
    MtStatus,
    SmsDeliveryReport,
    SmsMessage,
    SmsOptOut,
)
from callcenter.sms.parsing import (
    BookingCancel,
    BookingRequest,
    ConfirmReply,
    Help,
    Intent,
    InvoiceMalformed,
    InvoiceQuery,
    OptOut,
    Question,
    Subscribe,
    SurveyReply,
    TaxpayerMalformed,
    TaxpayerQuery,
    parse,
)
from callcenter.sms.reminders import TAXES, TOPIC_WORDS, TOPICS, Subscriptions
from callcenter.sms.survey import (
    SURVEY_ALREADY,
    SURVEY_LATE,
    SURVEY_TEXT,
    SURVEY_THANKS,
    SurveyBook,
    SurveyPolicy,
)
from callcenter.sms.throttle import HOUR, SECOND, Limits, next_slot
from callcenter.taxpayers.services import TaxpayerService
from callcenter.tickets.services import TicketService
from ivr.clock import Clock
from ivr.ports import ContactEvent, EventKind, FaqSource
from knowledge_base.models import DecisionKind

log = logging.getLogger(__name__)

# a "1"/"2" answers the offer made within this time; later it is a new text
OFFER_TTL = timedelta(hours=24)
EXAMPLE_INVOICE = "发票 26442000000012345678 1130"
HELP = f"请直接发送涉税问题；查发票请发“发票 号码 金额”，如“{EXAMPLE_INVOICE}”；回复TD退订提醒。"
# 帮助: every command (two segments); anything unrecognised gets the one-segment HELP
MENU = ("12366短信服务：直接发送涉税问题；发票查验发“发票 号码 金额”；"
        "申报状态用登记手机发“查询 纳税人识别号”；预约办税服务厅发“预约”，"
        "取消发“取消预约 预约号”；订阅提醒发“订阅”；回复TD退订。")
INVOICE_HELP = ("发票查验格式：发票 发票号码 价税合计（元），如“" + EXAMPLE_INVOICE
                + "”；有发票代码的请发“发票 代码 号码 金额”。")
OPT_OUT_DONE = "您已退订12366短信提醒，今后不再向您发送提醒。如需咨询，仍可直接发送问题。"
KB_UNAVAILABLE = "抱歉，智能咨询暂不可用，请稍后再试或拨打12366热线。"
NO_TICKET = "您的问题需人工解答，请拨打12366热线转人工咨询。"
EXAMPLE_TIN = "914403001234567890"
TAXPAYER_HELP = f"查询申报状态请用登记的手机号发送“查询 纳税人识别号”，如“查询 {EXAMPLE_TIN}”。"
# one reply for an unknown TIN and a TIN registered to another number: the text does not tell
# a stranger which TINs exist
TAXPAYER_REFUSED = ("无法查询：本手机号不是该纳税人登记的手机号。请用办税登记的手机号发送，"
                    "或拨打12366凭查询密码查询。")
BOOKING_NO_HALLS = "暂无可预约的办税服务厅，请拨打12366咨询。"
SLOT_OFFER = "slots:"  # sms_messages.offer of a slots list: "slots:<hall number>:<slot ids>"
def mask(number: str) -> str:
    """A number as logs show it: the last four digits only."""
    return f"***{number[-4:]}"


def same_mobile(registered: str | None, number: str) -> bool:
    """Whether ``number`` is the registered mobile (the last 11 digits, +86 or not)."""
    digits = "".join(c for c in registered or "" if c.isdigit())[-11:]
    return len(digits) == 11 and digits == "".join(c for c in number if c.isdigit())[-11:]


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


@dataclass(frozen=True)
class Reply:
    text: str
    intent: str
    offer: str | None = None      # FAQ ids offered for "1"/"2", first = the one offered now


@dataclass
class Exchange:
    """One text received and what it caused: the contact's timeline."""

    number: str
    linkedid: str
    events: list[tuple[EventKind, dict[str, Any]]] = field(default_factory=list)

    def note(self, kind: EventKind, **data: Any) -> None:
        self.events.append((kind, data))


class SmsSender(Protocol):
    async def send(self, number: str, text: str, message_id: int) -> str | None:
        """Hand ``text`` to the gateway; None when accepted, else why not."""
        ...


class KannelSender:
    """smsbox's sendsms interface: UCS-2 (``coding=2``), concatenated by Kannel, every
    delivery report (``dlr-mask=31``) to our ``/sms/kannel/dlr``."""

    def __init__(self, sendsms_url: str, username: str, password: str, service_number: str,
                 dlr_url: str, timeout: float = 10.0) -> None:
        self.sendsms_url = sendsms_url
        self.username = username
        self.password = password
        self.service_number = service_number
        self.dlr_url = dlr_url
        self.timeout = timeout
        # one client (its kept-alive connection to smsbox) per event loop: a bulk job sends
        # thousands of texts
        self._clients: dict[int, httpx.AsyncClient] = {}

    def _client(self) -> httpx.AsyncClient:
        loop = id(asyncio.get_running_loop())
        client = self._clients.get(loop)
        if client is None:
            if len(self._clients) > 8:  # clients of loops long closed (tests, CLI runs)
                self._clients.clear()
            client = self._clients[loop] = httpx.AsyncClient(timeout=self.timeout)
        return client

    async def send(self, number: str, text: str, message_id: int) -> str | None:
        params = {
            "username": self.username, "password": self.password,
            "from": self.service_number, "to": number, "text": text,
            "coding": "2", "charset": "UTF-8", "dlr-mask": "31",
            # %d: the report's type, %A: the SMSC's answer (Kannel fills them in)
            "dlr-url": f"{self.dlr_url}&id={message_id}&type=%d&reply=%A",
        }
        try:
            response = await self._client().get(self.sendsms_url, params=params)
        except httpx.HTTPError as exc:
            return f"sendsms unreachable: {exc.__class__.__name__}"
        if response.status_code in (200, 202):
            return None
        return f"sendsms {response.status_code}: {response.text[:200]}"


class SmsService:
    def __init__(self, db: Database, clock: Clock, *, kb: FaqSource | None,
                 tickets: TicketService | None, sender: SmsSender | None,
                 service_number: str = "12366", timezone: str = "Asia/Shanghai",
                 limits: Limits | None = None, survey: SurveyPolicy | None = None) -> None:
        self.db = db
        self.limits = limits or Limits()
        self._lock = asyncio.Lock()  # one admission or dispatch at a time in this process
        self.clock = clock
        self.kb = kb
        self.tickets = tickets
        self.notifier: Notifier | None = None  # declined questions announced (sms_of sets it)
        self.sender = sender
        self.service_number = service_number
        self.tz = ZoneInfo(timezone)
        self.invoices = InvoiceService(db)
        self.taxpayers = TaxpayerService(db, clock)
        self.bookings = BookingService(db, clock)
        self.subscriptions = Subscriptions(db, clock)
        self.contacts = ContactService(db)
        self.surveys = SurveyBook(db, clock, self.contacts, survey or SurveyPolicy())

    # -- a text received ---------------------------------------------------------------------------

    async def receive(self, number: str, text: str) -> tuple[SmsMessage, list[SmsMessage]]:
        """Handle one mobile-originated text: record it, reply, log the contact. Returns the
        text as stored and the replies sent (one; its parts are Kannel's)."""
        exchange = Exchange(number=number, linkedid=f"sms-{uuid.uuid4().hex[:24]}")
        started = self.clock()
        mo = await asyncio.to_thread(self._store, Direction.MO, number, text, exchange.linkedid,
                                     started, "", None)
        intent = parse(text)
        exchange.note(EventKind.CALL_STARTED, caller=number, channel=f"SMS/{self.service_number}",
                      medium="sms", uniqueid=exchange.linkedid)
        try:
            reply = await self._reply(intent, exchange)
        except Exception:  # never silence: the help text, and the error in the log
            log.exception("SMS: handling text %s failed", mo.id)
            reply = Reply(HELP, "error")
        await asyncio.to_thread(self._set_intent, mo.id, reply.intent)
        mt = await self.send(number, reply.text, exchange.linkedid, reply.intent, reply.offer)
        exchange.note(EventKind.CALL_ENDED, cause=16, cause_txt="sms", reconciled=False)
        await asyncio.to_thread(self._log_contact, exchange, started)
        return mo, [mt]

    async def send(self, number: str, text: str, linkedid: str = "", intent: str = "",
                   offer: str | None = None, *, stored_text: str | None = None
                   ) -> SmsMessage:
        """Record and send one text to ``number`` (Kannel splits it), within the sending
        limits: over one, the text is held and goes when its slot comes
        (:meth:`dispatch_due`); beyond the storm backlog it is cut (``suppressed``).

        ``stored_text``: what the record keeps instead of ``text`` (a verification code
        masked, same length: the segments counted are the text's). Such a text is never
        held (the record could not send it later): over a limit it is ``suppressed``."""
        async with self._lock:
            mt = await asyncio.to_thread(self._admit, number, stored_text or text, linkedid,
                                         intent, offer, stored_text is None)
        if mt.status == MtStatus.QUEUED:
            await self._hand_over(mt, text)
        return mt

    async def _hand_over(self, mt: SmsMessage, text: str | None = None) -> None:
        problem = "no SMS gateway" if self.sender is None else \
            await self.sender.send(mt.number, text if text is not None else mt.text, mt.id)
        if problem is not None:
            log.warning("SMS: text %s to the gateway failed: %s", mt.id, problem)
            await asyncio.to_thread(self._set_status, mt.id, MtStatus.FAILED)
            mt.status = str(MtStatus.FAILED)

    def _admit(self, number: str, text: str, linkedid: str, intent: str,
               offer: str | None, may_hold: bool = True) -> SmsMessage:
        """Store one outgoing text: queued (to go now), held (over a limit, or behind texts
        held for the number) or suppressed (a reply storm to the number, or over a limit
        when it may not be held)."""
        now = self.clock()
        with self.db.transaction() as session:
            held = session.scalar(select(func.count()).select_from(SmsMessage).where(
                SmsMessage.number == number[:32], SmsMessage.status == str(MtStatus.HELD))) or 0
            if held >= self.limits.storm_backlog:
                status, slot = MtStatus.SUPPRESSED, None
            else:
                slot = self._slot(session, number, now)
                status = MtStatus.QUEUED if held == 0 and slot <= now else MtStatus.HELD
                if status is MtStatus.HELD and not may_hold:
                    status, slot = MtStatus.SUPPRESSED, None
            message = SmsMessage(
                direction=str(Direction.MT), number=number[:32],
                service_number=self.service_number, text=text, segments=segments(text),
                at=now, linkedid=linkedid, intent=intent, status=str(status),
                status_at=now if status is not MtStatus.QUEUED else None, offer=offer,
                sent_at=now if status is MtStatus.QUEUED else None,
                send_after=slot if status is MtStatus.HELD else None)
            session.add(message)
            session.flush()
            session.expunge(message)
        if status is MtStatus.SUPPRESSED and held < self.limits.storm_backlog:
            log.warning("SMS: text %s (%s) to %s over the sending limits and not to be held: "
                        "not sent", message.id, intent or "-", mask(number))
        elif status is MtStatus.SUPPRESSED:
            log.warning("SMS: reply storm to %s cut: %d texts already held for it, text %s "
                        "(%s) not sent", mask(number), held, message.id, intent or "-")
        elif status is MtStatus.HELD:
            log.info("SMS: text %s to %s held until %s (sending limits)", message.id,
                     mask(number), message.send_after)
        return message

    def _slot(self, session: Session, number: str, now: datetime) -> datetime:
        """When one more text to ``number`` may go, by the texts handed over so far."""
        to_number = list(session.scalars(select(SmsMessage.sent_at).where(
            SmsMessage.number == number[:32], SmsMessage.sent_at > now - HOUR)))
        in_total = list(session.scalars(select(SmsMessage.sent_at).where(
            SmsMessage.sent_at > now - SECOND)))
        return next_slot(now, [t for t in to_number if t is not None],
                         [t for t in in_total if t is not None], self.limits)

    async def dispatch_due(self) -> int:
        """Send the held texts whose slot has come, oldest first (each number's in order);
        returns how many went. A text whose slot moved on (others went first) waits again."""
        async with self._lock:
            due = await asyncio.to_thread(self._claim_due)
        for mt in due:
            await self._hand_over(mt)
        return len(due)

    def _claim_due(self) -> list[SmsMessage]:
        now = self.clock()
        claimed: list[SmsMessage] = []
        waiting: set[str] = set()  # numbers whose oldest held text still waits
        with self.db.transaction() as session:
            held = list(session.scalars(
                select(SmsMessage).where(SmsMessage.status == str(MtStatus.HELD),
                                         SmsMessage.send_after <= now)
                .order_by(SmsMessage.id).with_for_update(skip_locked=True)))
            for message in held:
                if message.number in waiting:
                    continue
                slot = self._slot(session, message.number, now)
                if slot > now:
                    message.send_after = slot
                    waiting.add(message.number)
                    continue
                message.status, message.status_at = str(MtStatus.QUEUED), now
                message.sent_at, message.send_after = now, None
                session.flush()  # the next text's slot counts this one
                claimed.append(message)
            for message in claimed:
                session.expunge(message)
        return claimed

    def next_due(self) -> datetime | None:
        """When the next held text may go (None: nothing is held)."""
        with self.db.session() as session:
            return session.scalar(select(func.min(SmsMessage.send_after))
                                  .where(SmsMessage.status == str(MtStatus.HELD)))

    async def _reply(self, intent: Intent, exchange: Exchange) -> Reply:
        if isinstance(intent, OptOut):
            await asyncio.to_thread(self.opt_out, exchange.number, "TD")
            exchange.note(EventKind.SELF_SERVICE, node="sms", service="opt_out", detail="")
            return Reply(OPT_OUT_DONE, "opt_out")
        if isinstance(intent, Subscribe):
            return await asyncio.to_thread(self._subscribe, intent.word, exchange)
        if isinstance(intent, InvoiceQuery):
            return await asyncio.to_thread(self._invoice, intent, exchange)
        if isinstance(intent, InvoiceMalformed):
            exchange.note(EventKind.SERVICE_RESULT, node="sms", service="invoice_check",
                          result="malformed", detail=intent.reason)
            return Reply(f"{intent.reason}。{INVOICE_HELP}", "invoice_help")
        if isinstance(intent, TaxpayerQuery):
            return await asyncio.to_thread(self._taxpayer, intent.tin, exchange)
        if isinstance(intent, TaxpayerMalformed):
            exchange.note(EventKind.SERVICE_RESULT, node="sms", service="taxpayer_query",
                          result="malformed", detail=intent.reason)
            return Reply(f"{intent.reason}。{TAXPAYER_HELP}", "taxpayer_help")
        if isinstance(intent, BookingRequest):
            return await asyncio.to_thread(self._booking, intent, exchange)
        if isinstance(intent, BookingCancel):
            return await asyncio.to_thread(self._cancel, intent.confirmation_no, exchange)
        if isinstance(intent, ConfirmReply):
            return await self._confirm(intent, exchange)
        if isinstance(intent, SurveyReply):
            return await asyncio.to_thread(self._rate, intent.score, exchange)
        if isinstance(intent, Question):
            return await self._question(intent.text, exchange)
        assert isinstance(intent, Help)
        if intent.reason == "help":  # 帮助 / 菜单 / ?: every command
            exchange.note(EventKind.SERVICE_RESULT, node="sms", service="help", result="menu",
                          detail="")
            return Reply(MENU, "help")
        exchange.note(EventKind.SERVICE_RESULT, node="sms", service="help", result=intent.reason,
                      detail="")
        return Reply(HELP, "help")

    # -- questions: the knowledge base's decision --------------------------------------------------

    async def _question(self, text: str, exchange: Exchange) -> Reply:
        if self.kb is None:
            return Reply(KB_UNAVAILABLE, "kb_unavailable")
        decision = await asyncio.to_thread(self.kb.decide, text)
        exchange.note(EventKind.FAQ_DECISION, node="sms", text=text,
                      decision=decision.kind.value, score=round(decision.score, 4),
                      candidates=[r.id for r in decision.results])
        if decision.kind is DecisionKind.ANSWER:
            return self._answer(decision.results[0].id, decision.score, "text", exchange)
        if decision.kind is DecisionKind.CONFIRM:
            ids = [r.id for r in decision.results]
            return self._offer(ids, exchange)
        return await self._decline(text, exchange)

    def _answer(self, faq_id: str, score: float, via: str, exchange: Exchange) -> Reply:
        assert self.kb is not None
        entry = self.kb.get(faq_id)
        exchange.note(EventKind.FAQ_PLAYED, node="sms", faq_id=faq_id, question=entry.question,
                      score=round(score, 4), category=entry.category, via=via)
        exchange.note(EventKind.SELF_SERVICE, node="sms", service="faq", detail=faq_id)
        return Reply(entry.answer, "faq_answer")

    def _offer(self, ids: list[str], exchange: Exchange) -> Reply:
        assert self.kb is not None
        entry = self.kb.get(ids[0])
        exchange.note(EventKind.FAQ_CONFIRM, node="sms", faq_id=ids[0], question=entry.question,
                      offered=1, answer=None)
        more = "，回复2换一个问题" if len(ids) > 1 else ""
        return Reply(f"您想咨询的是：{entry.question}回复1确认{more}。", "faq_confirm",
                     offer=" ".join(ids))

    async def _confirm(self, reply: ConfirmReply, exchange: Exchange) -> Reply:
        pending = await asyncio.to_thread(self._take_offer, exchange.number)
        if pending is None and await asyncio.to_thread(self.surveys.ever_sent, exchange.number):
            # no question offered since: the 1 or 2 answers the satisfaction survey
            return await asyncio.to_thread(self._rate, reply.choice, exchange)
        if pending is None:
            exchange.note(EventKind.SERVICE_RESULT, node="sms", service="help",
                          result="no_offer", detail=str(reply.choice))
            return Reply(HELP, "help")
        ids, question = pending
        if self.kb is None:
            return Reply(KB_UNAVAILABLE, "kb_unavailable")
        if reply.choice == 1:
            return self._answer(ids[0], 0.0, "confirm", exchange)
        if len(ids) > 1:
            return self._offer(ids[1:], exchange)
        return await self._decline(question, exchange)

    async def _decline(self, text: str, exchange: Exchange) -> Reply:
        exchange.note(EventKind.ESCALATED, node="sms", faq_id=None, queue="consult",
                      reason="declined", text=text)
        if self.tickets is None:
            return Reply(NO_TICKET, "faq_declined")
        try:
            ticket = await asyncio.to_thread(
                self.tickets.create, "consult", exchange.number, exchange.linkedid, None,
                f"短信咨询：{text}", "sms")
        except Exception:
            log.exception("SMS: no ticket for a declined question")
            return Reply(NO_TICKET, "faq_declined")
        exchange.note(EventKind.TICKET, ticket_no=ticket.ticket_no, type="consult")
        exchange.note(EventKind.OUTCOME, outcome="message_left")
        announce(self.notifier, ticket, "sms", text)
        due = ticket.due_at.astimezone(self.tz)
        return Reply(f"您的问题已转人工坐席（工单号{ticket.ticket_no}），"
                     f"将于{due.month}月{due.day}日{due:%H:%M}前答复您。", "faq_declined")

    # -- reminder subscriptions (callcenter/sms/reminders.py) -----------------------------------

    def _subscribe(self, word: str | None, exchange: Exchange) -> Reply:
        topic = TOPIC_WORDS.get(word or "")
        if topic is None:
            mine = self.subscriptions.topics(exchange.number)
            now = f"您已订阅：{'、'.join(TOPICS[t] for t in mine)}。" if mine else ""
            return Reply(f"{now}订阅请回复：订阅1 {TOPICS['deadline']}（或“订阅 增值税”等只订"
                         f"该税种）；订阅2 {TOPICS['policy']}。回复TD退订全部提醒。",
                         "subscribe_help")
        self.subscriptions.subscribe(exchange.number, topic)
        exchange.note(EventKind.SELF_SERVICE, node="sms", service="subscribe", detail=topic)
        return Reply(f"您已订阅12366{TOPICS[topic]}。回复TD可随时退订。", "subscribed")

    # -- the satisfaction survey after a call (callcenter/sms/survey.py) ---------------------------

    def _rate(self, score: int, exchange: Exchange) -> Reply:
        rated = self.surveys.rate(exchange.number, score)
        exchange.note(EventKind.SERVICE_RESULT, node="sms", service="survey",
                      result=rated.result, score=score, call=rated.linkedid)
        if rated.result == "answered":
            exchange.note(EventKind.SELF_SERVICE, node="sms", service="survey",
                          detail=str(score))
            return Reply(SURVEY_THANKS, "survey_answered")
        if rated.result == "already":
            return Reply(SURVEY_ALREADY, "survey_already")
        if rated.result == "late":
            return Reply(SURVEY_LATE, "survey_late")
        return Reply(HELP, "help")

    async def send_surveys(self) -> int:
        """Send the survey text for every phone call that ended served and has none yet;
        returns how many were sent (or held by the sending limits)."""
        due = await asyncio.to_thread(self.surveys.claim_due)
        for survey in due:
            mt = await self.send(survey.number, SURVEY_TEXT, survey.linkedid, "survey")
            await asyncio.to_thread(self.surveys.sent, survey.survey_id, mt.id)
        return len(due)

    # -- the taxpayer's status: to the registered mobile only ----------------------------------

    def _taxpayer(self, tin: str, exchange: Exchange) -> Reply:
        registered = self.taxpayers.registered(tin)
        status = None
        if registered is not None and same_mobile(registered[1], exchange.number):
            status = self.taxpayers.status(tin)
        if registered is None or status is None:
            result = "unknown" if registered is None else "not_registered_mobile"
            exchange.note(EventKind.SERVICE_RESULT, node="sms", service="taxpayer_query",
                          result=result, tin=tin)
            return Reply(TAXPAYER_REFUSED, "taxpayer_refused")
        exchange.note(EventKind.SERVICE_RESULT, node="sms", service="taxpayer_query",
                      result="ok", tin=tin, filings=len(status.filings),
                      unpaid_fen=status.unpaid_fen)
        exchange.note(EventKind.SELF_SERVICE, node="sms", service="taxpayer_query", detail="ok")
        lines = [f"{f.period}{TAXES.get(f.tax, f.tax)}{'已申报' if f.filed else '未申报'}"
                 + (f"，欠缴{yuan(f.unpaid_fen)}元" if f.unpaid_fen else "")
                 for f in status.filings[:6]]
        body = "；".join(lines) if lines else "暂无申报记录"
        unpaid = (f"欠缴税费合计{yuan(status.unpaid_fen)}元。" if status.unpaid_fen
                  else "无欠缴税费。")
        return Reply(f"{registered[0] or tin}：{body}。{unpaid}", "taxpayer_status")

    # -- hall bookings (the IVR's bookings domain) ---------------------------------------------

    def _when(self, moment: datetime) -> str:
        local = moment.astimezone(self.tz)
        return f"{local.month}月{local.day}日{local:%H:%M}"

    def _booking(self, request: BookingRequest, exchange: Exchange) -> Reply:
        halls = self.bookings.hall_directory()
        if not halls:
            return Reply(BOOKING_NO_HALLS, "booking_refused")
        if request.hall is None:
            listed = "；".join(f"{n}.{name}" for n, (_id, name, _a) in enumerate(halls, 1))
            return Reply(f"请回复“预约 厅号”查看可约时段：{listed}。", "booking_halls")
        if not 1 <= request.hall <= len(halls):
            exchange.note(EventKind.SERVICE_RESULT, node="sms", service="booking",
                          result="unknown_hall", hall=request.hall)
            return Reply(f"没有{request.hall}号办税服务厅，请回复“预约”查看全部"
                         f"{len(halls)}个服务厅。", "booking_refused")
        hall_id, name, address = halls[request.hall - 1]
        if request.choice is not None:
            offered = self._slot_offer(exchange.number, request.hall)
            if offered is not None:
                return self._book(request, offered, (hall_id, name, address), exchange)
        slots = self.bookings.free_slots(hall_id, self.clock(), limit=3)
        if not slots:
            exchange.note(EventKind.SERVICE_RESULT, node="sms", service="booking",
                          result="no_slots", hall_id=hall_id)
            return Reply(f"{name}近期已约满，请稍后再试或选择其他服务厅（回复“预约”）。",
                         "booking_refused")
        listed = "；".join(f"{n}.{self._when(s.starts_at)}" for n, s in enumerate(slots, 1))
        again = "该时段已不在可选范围内，请重新选择。" if request.choice is not None else ""
        return Reply(f"{again}{name}可约：{listed}。回复“预约 {request.hall} 序号”预约。",
                     "booking_slots",
                     offer=f"{SLOT_OFFER}{request.hall}:" + " ".join(str(s.id)
                                                                     for s in slots))

    def _slot_offer(self, number: str, hall: int) -> list[int] | None:
        """The slots last offered to ``number`` for hall number ``hall`` (within a day)."""
        with self.db.session() as session:
            offer = session.scalar(
                select(SmsMessage.offer).where(
                    SmsMessage.number == number, SmsMessage.direction == str(Direction.MT),
                    SmsMessage.offer.like(f"{SLOT_OFFER}{hall}:%"),
                    SmsMessage.at >= self.clock() - OFFER_TTL)
                .order_by(SmsMessage.id.desc()).limit(1))
        if offer is None:
            return None
        return [int(i) for i in offer.split(":", 2)[2].split()]

    def _book(self, request: BookingRequest, offered: list[int],
              hall: tuple[int, str, str], exchange: Exchange) -> Reply:
        hall_id, name, address = hall
        assert request.choice is not None
        assert request.hall is not None
        if not 1 <= request.choice <= len(offered):
            return Reply(f"序号应为1至{len(offered)}，请回复“预约 {request.hall} 序号”。",
                         "booking_refused")
        slot_id = offered[request.choice - 1]
        confirmation = self.bookings.book(slot_id, exchange.number, exchange.linkedid)
        if confirmation is None:
            exchange.note(EventKind.SERVICE_RESULT, node="sms", service="booking",
                          result="taken", hall_id=hall_id, slot_id=slot_id)
            return Reply(f"该时段刚刚约满，请回复“预约 {request.hall}”重新选择。",
                         "booking_refused")
        exchange.note(EventKind.SERVICE_RESULT, node="sms", service="booking",
                      result="booked", hall_id=hall_id, slot_id=slot_id,
                      confirmation_no=confirmation.confirmation_no)
        exchange.note(EventKind.SELF_SERVICE, node="sms", service="booking",
                      detail=confirmation.confirmation_no)
        return Reply(f"已预约{name}{self._when(confirmation.starts_at)}，预约号"
                     f"{confirmation.confirmation_no}，地址：{address}。取消请发送“取消预约 "
                     f"{confirmation.confirmation_no}”。", "booking_booked")

    def _cancel(self, confirmation_no: str | None, exchange: Exchange) -> Reply:
        if confirmation_no is None:
            upcoming = self.bookings.upcoming(exchange.number)
            if not upcoming:
                return Reply("本手机号没有待办的预约。预约请发送“预约”。", "booking_none")
            names = {h: n for h, n, _a in self.bookings.hall_directory()}
            listed = "；".join(f"{no}（{names.get(h, '')}{self._when(at)}）"
                              for no, h, at in upcoming[:3])
            return Reply(f"您的预约：{listed}。取消请发送“取消预约 预约号”。", "booking_list")
        result = self.bookings.cancel(confirmation_no, exchange.number)
        exchange.note(EventKind.SERVICE_RESULT, node="sms", service="booking_cancel",
                      result=result, confirmation_no=confirmation_no)
        if result == "cancelled":
            exchange.note(EventKind.SELF_SERVICE, node="sms", service="booking_cancel",
                          detail=confirmation_no)
            return Reply(f"预约{confirmation_no}已取消。", "booking_cancelled")
        text = {"not_found": f"未找到本手机号的预约{confirmation_no}，请核对预约号"
                             "（发送“取消预约”查看您的预约）。",
                "already": f"预约{confirmation_no}此前已取消。",
                "past": f"预约{confirmation_no}的时间已到，无法取消。"}[result]
        return Reply(text, "booking_refused")

    # -- invoices ----------------------------------------------------------------------------------

    def _invoice(self, query: InvoiceQuery, exchange: Exchange) -> Reply:
        check = self.invoices.check(query.code, query.number, query.amount_fen)
        label = f"发票{query.code + '-' if query.code else ''}{query.number}"
        if not check.found:
            result, text = "not_found", f"未查到{label}，请核对发票号码后重新发送。"
        elif check.status in ("void", "red"):
            what = "已作废" if check.status == "void" else "已红冲"
            result, text = "void", f"{label}{what}，不是有效发票。"
        elif not check.amount_matches:
            result, text = "mismatch", f"{label}存在，但价税合计与您提供的金额不一致，请核对。"
        else:
            issued = (f"，开票日期{check.issued_on.year}年{check.issued_on.month}月"
                      f"{check.issued_on.day}日" if check.issued_on else "")
            result, text = "found", f"{label}查验一致：状态正常{issued}，金额相符。"
        exchange.note(EventKind.SERVICE_RESULT, node="sms", service="invoice_check",
                      result=result, code=query.code, number=query.number,
                      amount_fen=query.amount_fen)
        exchange.note(EventKind.SELF_SERVICE, node="sms", service="invoice_check", detail=result)
        return Reply(text, f"invoice_{result}")

    # -- opt-out -----------------------------------------------------------------------------------

    def opt_out(self, number: str, text: str = "") -> None:
        with self.db.transaction() as session:
            if session.get(SmsOptOut, number) is None:
                session.add(SmsOptOut(number=number, at=self.clock(), text=text[:160]))
        self.subscriptions.end_all(number)

    def opted_out(self, number: str) -> bool:
        """Whether reminders may not go to ``number`` (it texted 退订/TD)."""
        with self.db.session() as session:
            return session.get(SmsOptOut, number) is not None

    def reminder_recipients(self, numbers: list[str]) -> list[str]:
        """``numbers`` without those that opted out: whom a reminder may go to."""
        with self.db.session() as session:
            out = set(session.scalars(select(SmsOptOut.number)
                                      .where(SmsOptOut.number.in_(numbers))))
        return [n for n in numbers if n not in out]

    # -- delivery reports --------------------------------------------------------------------------

    def record_dlr(self, message_id: int, dlr_type: int, smsc_reply: str = "") -> bool:
        """Record one delivery report; False when there is no such text of ours."""
        status = DLR_STATUS.get(dlr_type)
        now = self.clock()
        with self.db.transaction() as session:
            message = session.get(SmsMessage, message_id)
            if message is None or message.direction != Direction.MT:
                return False
            session.add(SmsDeliveryReport(message_id=message_id, dlr_type=dlr_type,
                                          smsc_reply=smsc_reply[:256], at=now))
            if status is not None:
                # one conditional UPDATE: reports of one text come at once (8 and 1 together)
                # and a later, lower one must not undo "delivered"
                lower = [s for s, rank in STATUS_RANK.items()
                         if rank < STATUS_RANK[status] or (rank == STATUS_RANK[status]
                                                           and rank < 3)]
                session.execute(update(SmsMessage)
                                .where(SmsMessage.id == message_id,
                                       SmsMessage.status.in_([str(s) for s in lower]))
                                .values(status=str(status), status_at=now))
        return True

    # -- storage -----------------------------------------------------------------------------------

    def _store(self, direction: Direction, number: str, text: str, linkedid: str, at: datetime,
               intent: str, offer: str | None) -> SmsMessage:
        with self.db.transaction() as session:
            message = SmsMessage(
                direction=str(direction), number=number[:32],
                service_number=self.service_number, text=text,
                segments=segments(text) if direction is Direction.MT else 1, at=at,
                linkedid=linkedid, intent=intent,
                status=str(MtStatus.QUEUED) if direction is Direction.MT else "",
                offer=offer)
            session.add(message)
            session.flush()
            session.expunge(message)
        return message

    def _set_intent(self, message_id: int, intent: str) -> None:
        with self.db.transaction() as session:
            message = session.get(SmsMessage, message_id)
            if message is not None:
                message.intent = intent

    def _set_status(self, message_id: int, status: MtStatus) -> None:
        with self.db.transaction() as session:
            message = session.get(SmsMessage, message_id)
            if message is not None:
                message.status = str(status)
                message.status_at = self.clock()

    def _take_offer(self, number: str) -> tuple[list[str], str] | None:
        """The open offer to ``number`` (its FAQ ids and the question it answers), closed."""
        since = self.clock() - OFFER_TTL
        with self.db.transaction() as session:
            last = session.scalar(
                select(SmsMessage).where(SmsMessage.number == number,
                                         SmsMessage.direction == str(Direction.MT))
                .order_by(SmsMessage.id.desc()).limit(1))
            if (last is None or not last.offer or last.offer.startswith(SLOT_OFFER)
                    or last.at < since):
                return None
            ids = last.offer.split()
            last.offer = None
            question = session.scalar(
                select(SmsMessage.text).where(SmsMessage.linkedid == last.linkedid,
                                              SmsMessage.direction == str(Direction.MO))
                .order_by(SmsMessage.id).limit(1)) or ""
        return ids, question

    def _log_contact(self, exchange: Exchange, started: datetime) -> None:
        at = started
        for kind, data in exchange.events:
            at = max(at, self.clock()) if kind is EventKind.CALL_ENDED else at
            self.contacts.apply(ContactEvent.parse(exchange.linkedid, kind, data, at=at))

    def messages(self, number: str, limit: int = 50) -> list[SmsMessage]:
        with self.db.session() as session:
            rows = list(session.scalars(select(SmsMessage).where(SmsMessage.number == number)
                                        .order_by(SmsMessage.id.desc()).limit(limit)))
            for row in rows:
                session.expunge(row)
        return list(reversed(rows))


def sms_service_for(db: Database, clock: Clock, settings: Any, kb: FaqSource | None,
                    tickets: TicketService | None,
                    sender_factory: Callable[[Any], SmsSender | None] | None = None
                    ) -> SmsService:
    """The service as the app wires it: replies through the gateway of ``settings``."""
    from callcenter.sms.gateway import SENDSMS_USER, SmsPorts

    ports = SmsPorts(settings.sms_port_base)
    sender = (sender_factory(settings) if sender_factory is not None else KannelSender(
        f"http://127.0.0.1:{ports.sendsms}/cgi-bin/sendsms", SENDSMS_USER,
        settings.sms_sendsms_password, settings.sms_service_number,
        f"{settings.sms_app_url.rstrip('/')}/api/v1/sms/kannel/dlr?key={settings.sms_gateway_key}"))
    limits = Limits(per_number_minute=settings.sms_limit_per_number_minute,
                    per_number_hour=settings.sms_limit_per_number_hour,
                    total_per_second=settings.sms_limit_per_second,
                    storm_backlog=settings.sms_storm_backlog)
    survey = SurveyPolicy(enabled=settings.sms_survey_enabled,
                          outcomes=tuple(settings.sms_survey_outcomes),
                          lookback=timedelta(minutes=settings.sms_survey_lookback_minutes),
                          reply_window=timedelta(hours=settings.sms_survey_reply_hours))
    return SmsService(db, clock, kb=kb, tickets=tickets, sender=sender,
                      service_number=settings.sms_service_number, timezone=settings.timezone,
                      limits=limits, survey=survey)
