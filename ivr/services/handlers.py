"""Self-services of the 12366 menu (``service`` nodes): invoice check, taxpayer query,
booking, callback request and voice messages (complaints, reports, director's line).

Each handler speaks its result and returns a result name that the node maps to the next node
(``results``), after recording ``service_result`` (and ``self_service`` when the caller was
served) in the contact timeline. Prompt ids used here are listed in :data:`SERVICE_PROMPTS`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from ivr.agi import ChannelHungUp
from ivr.events import CallbackRequested, Json, OutcomeSet, ServiceResult, TicketCreated
from ivr.menu.channel import RecordingChannel
from ivr.menu.runners import node_runner
from ivr.menu.schema import ServiceNode
from ivr.prompts import readback
from ivr.services.speech import speech_level

if TYPE_CHECKING:
    from ivr.menu.engine import MenuSession

log = logging.getLogger(__name__)

TAX_PROMPTS = {"vat": "tax/vat", "cit": "tax/cit", "iit": "tax/iit", "stamp": "tax/stamp",
               "property": "tax/property", "ssc": "tax/ssc"}
SERVICE_PROMPTS = {
    "invoice_valid", "invoice_issued_on", "invoice_not_found", "invoice_amount_mismatch",
    "invoice_void", "query_wrong_pin", "query_attempts_left", "query_locked",
    "query_unknown", "query_filed", "query_not_filed", "query_unpaid", "query_no_unpaid",
    "query_no_filings", "booking_choose_hall", "booking_press", "booking_choose_slot",
    "booking_no_slots", "booking_confirmed", "booking_taken", "callback_confirmed",
    "message_record", "message_empty", "ticket_created", "ticket_due", "service_unavailable",
    *TAX_PROMPTS.values(),
}

Handler = Callable[["MenuSession", str, ServiceNode], Awaitable[str]]


@node_runner("service")
async def run_service(session: MenuSession, node_id: str, node: ServiceNode) -> str:
    handler = HANDLERS[node.service]
    try:
        result = await handler(session, node_id, node)
    except _Unavailable as exc:
        log.warning("service %s unavailable: %s", node.service, exc)
        session.record(ServiceResult(node=node_id, service=node.service,
                       result="unavailable"))
        await session.say(node_id, ["service_unavailable"])
        return node.fallback or node.next
    return node.results.get(result, node.next)


class _Unavailable(RuntimeError):
    pass


def _var(session: MenuSession, node: ServiceNode, param: str, default: str) -> str:
    name = node.params.get(param, default)
    if name == "-":
        return ""  # not asked for (e.g. the code of a fully digitalised e-invoice)
    if name not in session.vars:
        raise _Unavailable(f"session variable {name!r} not collected before {node.service}")
    return session.vars[name]


def _result(session: MenuSession, node_id: str, node: ServiceNode, result: str,
            *, tin: str | None = None, details: Mapping[str, Json] | None = None,
            **more: Json) -> str:
    session.record(ServiceResult(node=node_id, service=node.service, result=result, tin=tin,
                                 details={**(details or {}), **more}))
    return result


# -- 发票真伪鉴别 --------------------------------------------------------------------------


async def invoice_check(session: MenuSession, node_id: str, node: ServiceNode) -> str:
    registry = session.services.invoices
    if registry is None:
        raise _Unavailable("no invoice registry")
    code = _var(session, node, "code", "invoice_code")
    number = _var(session, node, "number", "invoice_number")
    amount_fen = int(_var(session, node, "amount", "invoice_amount"))
    check = await registry.check(code, number, amount_fen)
    detail: dict[str, Json] = {"code": code, "number": number, "amount_fen": amount_fen}
    if not check.found:
        result = _result(session, node_id, node, "not_found", details=detail)
        await session.say(node_id, ["invoice_not_found"])
    elif check.status in ("void", "red"):
        result = _result(session, node_id, node, "void", status=check.status,
                         details=detail)
        await session.say(node_id, ["invoice_void"])
    elif not check.amount_matches:
        result = _result(session, node_id, node, "mismatch", details=detail)
        await session.say(node_id, ["invoice_amount_mismatch"])
    else:
        result = _result(session, node_id, node, "found", details=detail)
        prompts = ["invoice_valid"]
        if check.issued_on is not None:
            prompts += ["invoice_issued_on", *readback.say_date(check.issued_on)]
        await session.say(node_id, prompts)
    session.served_by(node_id, "invoice_check", result)
    return result


# -- 综合查询 ----------------------------------------------------------------------------


async def taxpayer_query(session: MenuSession, node_id: str, node: ServiceNode) -> str:
    directory = session.services.taxpayers
    if directory is None:
        raise _Unavailable("no taxpayer directory")
    tin = _var(session, node, "tin", "tin")
    pin = _var(session, node, "pin", "pin")
    session.vars.pop(node.params.get("pin", "pin"), None)  # never kept longer than needed
    check = await directory.verify_pin(tin, pin)
    if check.status == "unknown":
        _result(session, node_id, node, "unknown", tin=tin)
        await session.say(node_id, ["query_unknown"])
        return "unknown"
    if check.status == "locked":
        _result(session, node_id, node, "locked", tin=tin)
        await session.say(node_id, ["query_locked"])
        return "locked"
    if check.status == "wrong_pin":
        _result(session, node_id, node, "wrong_pin", tin=tin, attempts_left=check.attempts_left)
        await session.say(node_id, ["query_wrong_pin", "query_attempts_left",
                                    *readback.say_integer(check.attempts_left)])
        return "wrong_pin"
    status = await directory.status(tin)
    if status is None:
        _result(session, node_id, node, "unknown", tin=tin)
        await session.say(node_id, ["query_unknown"])
        return "unknown"
    prompts: list[str] = []
    for filing in status.filings:
        prompts += [*readback.say_period(filing.period),
                    TAX_PROMPTS.get(filing.tax, "tax/other"),
                    "query_filed" if filing.filed else "query_not_filed"]
    if not status.filings:
        prompts.append("query_no_filings")
    if status.unpaid_fen > 0:
        prompts += ["query_unpaid", *readback.say_amount(status.unpaid_fen)]
    else:
        prompts.append("query_no_unpaid")
    _result(session, node_id, node, "found", tin=tin,
            filings=[{"tax": f.tax, "period": f.period, "filed": f.filed}
                     for f in status.filings], unpaid_fen=status.unpaid_fen)
    await session.announce(node_id, prompts)
    session.served_by(node_id, "taxpayer_query", "found")
    return "found"


# -- 预约服务 ----------------------------------------------------------------------------


async def booking(session: MenuSession, node_id: str, node: ServiceNode) -> str:
    desk = session.services.bookings
    if desk is None:
        raise _Unavailable("no booking desk")
    halls = (await desk.halls())[:9]
    if not halls:
        return _result(session, node_id, node, "no_slots")
    lead: list[str] = []
    for n, hall in enumerate(halls, start=1):
        lead += [hall.prompt, "booking_press", *readback.say_digits(str(n))]
    keys = [str(n) for n in range(1, len(halls) + 1)]
    choice = await session.ask(node_id, node, "booking_choose_hall", options=keys, lead=lead)
    if choice.goto is not None or choice.failed:
        _result(session, node_id, node, "no_choice")
        return "no_choice"
    hall = halls[int(choice.digits) - 1]
    slots = await desk.free_slots(hall.id, session.services.clock(), limit=3)
    if not slots:
        _result(session, node_id, node, "no_slots", hall_id=hall.id)
        await session.say(node_id, ["booking_no_slots"])
        return "no_slots"
    lead = []
    for n, slot in enumerate(slots, start=1):
        lead += [*_say_local(session, slot.starts_at), "booking_press",
                 *readback.say_digits(str(n))]
    keys = [str(n) for n in range(1, len(slots) + 1)]
    choice = await session.ask(node_id, node, "booking_choose_slot", options=keys, lead=lead)
    if choice.goto is not None or choice.failed:
        _result(session, node_id, node, "no_choice", hall_id=hall.id)
        return "no_choice"
    slot = slots[int(choice.digits) - 1]
    caller = getattr(session.channel, "caller_number", "")
    confirmation = await desk.book(slot.id, caller, session.channel.linkedid)
    if confirmation is None:
        _result(session, node_id, node, "taken", hall_id=hall.id, slot_id=slot.id)
        await session.say(node_id, ["booking_taken"])
        return "taken"
    _result(session, node_id, node, "booked", hall_id=hall.id, slot_id=slot.id,
            confirmation_no=confirmation.confirmation_no,
            starts_at=confirmation.starts_at.isoformat())
    await session.announce(node_id, ["booking_confirmed",
                                     *readback.say_digits(confirmation.confirmation_no),
                                     *_say_local(session, confirmation.starts_at)])
    session.served_by(node_id, "booking", confirmation.confirmation_no)
    return "booked"


def _say_local(session: MenuSession, moment: datetime) -> list[str]:
    calendar = session.services.calendar
    local = calendar.local(moment) if calendar is not None else moment
    return readback.say_datetime(local)


async def callback(session: MenuSession, node_id: str, node: ServiceNode) -> str:
    desk = session.services.tickets
    if desk is None:
        raise _Unavailable("no ticket desk")
    caller = getattr(session.channel, "caller_number", "")
    number = session.vars.get(node.params.get("number", "callback_number"), caller)
    if not number.isdigit():
        _result(session, node_id, node, "no_number")
        await session.say(node_id, ["service_unavailable"])
        return "no_number"
    confirmation = await desk.request_callback(number, session.channel.linkedid,
                                               node.params.get("reason", "queue_busy"))
    session.record(CallbackRequested(node=node_id, callback_id=confirmation.callback_id,
                   number=confirmation.number, due_at=confirmation.due_at.isoformat()))
    session.record(OutcomeSet(node=node_id, outcome="callback_requested"))
    _result(session, node_id, node, "created", callback_id=confirmation.callback_id)
    await session.say(node_id, ["callback_confirmed", *readback.say_digits(number),
                                *_say_local(session, confirmation.due_at)])
    return "created"


# -- 投诉举报 / 局长热线 留言 -----------------------------------------------------------------


async def voice_message(session: MenuSession, node_id: str, node: ServiceNode) -> str:
    desk = session.services.tickets
    channel = session.channel
    if desk is None or not isinstance(channel, RecordingChannel):
        raise _Unavailable("no ticket desk or the channel cannot record")
    kind = node.params.get("kind", "complaint")
    if kind not in ("complaint", "report", "director"):
        raise _Unavailable(f"unknown message kind {kind!r}")
    max_seconds = int(node.params.get("max_seconds", "120"))
    name = session.next_recording_name(kind)
    pbx_path, local = session.services.recording(name)
    await session.say(node_id, [node.params.get("record_prompt", "message_record")])
    hung_up = False
    try:
        await channel.record(pbx_path, "wav", "#", timeout_ms=max_seconds * 1000,
                             silence_s=0, beep=True)
    except ChannelHungUp:
        hung_up = True   # a message ended by hanging up is still a message
    duration, level = speech_level(local) if local is not None else (0.0, 0.0)
    if local is None or duration < 500 or level < 50:
        _result(session, node_id, node, "empty", type=kind, recorded_ms=round(duration))
        if hung_up:
            raise ChannelHungUp(channel.linkedid)
        await session.say(node_id, ["message_empty"])
        return "empty"
    confirmation = await desk.create_ticket(kind, channel.caller_number, channel.linkedid,
                                            str(local))
    session.record(TicketCreated(node=node_id, ticket_no=confirmation.ticket_no, type=kind,
                   recording=str(local), due_at=confirmation.due_at.isoformat(),
                   recorded_ms=round(duration)))
    session.record(OutcomeSet(node=node_id, outcome="message_left"))
    _result(session, node_id, node, "created", type=kind, ticket_no=confirmation.ticket_no)
    if hung_up:
        raise ChannelHungUp(channel.linkedid)
    await session.say(node_id, ["ticket_created", *readback.say_digits(confirmation.ticket_no),
                                "ticket_due", *_say_local(session, confirmation.due_at)])
    return "created"


HANDLERS: dict[str, Handler] = {
    "invoice_check": invoice_check,
    "taxpayer_query": taxpayer_query,
    "booking": booking,
    "callback": callback,
    "voice_message": voice_message,
}
