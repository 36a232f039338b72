"""Online consultation over HTTP.

* ``/consult`` (the taxpayers' page, no login) and ``/consult/static/<file>``;
* ``/api/v1/consult/...``: the page's calls: a code by text, its check (a session cookie
  scoped to the verified number and to these routes), suggestions while typing, questions;
* ``/api/v1/consultations/{ticket_no}``: the console's view of one consult ticket (web or
  sms) and the reply, for every staff role, by the tickets' ownership rule.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Cookie, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from callcenter.auth.deps import AnyStaff
from callcenter.consult.notifier import masked
from callcenter.consult.schemas import (
    CodeIn,
    CodeOut,
    ConsultationOut,
    QuestionIn,
    ReplyIn,
    ReplyOut,
    SessionOut,
    StaffConsultationOut,
    StaffReplyOut,
    SuggestionOut,
    SuggestOut,
    VerifyIn,
)
from callcenter.consult.services import Consultation, ConsultPolicy, ConsultService
from callcenter.openapi import problems
from callcenter.settings import Settings
from callcenter.sms.http import sms_of
from callcenter.tickets.desk import TicketDesk
from callcenter.tickets.ownership import check_work
from callcenter.web.http import html_page, static_asset

COOKIE = "hotline_consult"
COOKIE_PATH = "/api/v1/consult"
STATIC = Path(__file__).with_name("static")
ASSETS = {p.name for p in STATIC.iterdir() if p.is_file()} if STATIC.is_dir() else set()

router = APIRouter(prefix="/consult", tags=["consult"])
staff_router = APIRouter(prefix="/consultations", tags=["consult"])
pages_router = APIRouter(include_in_schema=False)
Token = Annotated[str | None, Cookie(alias=COOKIE, max_length=128)]
TicketNo = Annotated[str, PathParam(pattern=r"^[0-9A-Za-z-]{1,20}$")]


def consult_service(request: Request) -> ConsultService:
    """The page's service over the app's shared ones (SMS, tickets, knowledge base)."""
    state = request.app.state
    settings = getattr(state, "settings", None)
    if not isinstance(settings, Settings):
        raise HTTPException(503, "网上咨询暂不可用")
    return ConsultService(state.db, state.clock, sms=sms_of(state, settings),
                          tickets=getattr(state, "tickets", None),
                          kb=getattr(state, "knowledge_base", None),
                          policy=ConsultPolicy.of(settings), timezone=settings.timezone,
                          notifier=getattr(state, "notifier", None))


def _public(c: Consultation) -> ConsultationOut:
    return ConsultationOut(
        ticket_no=c.ticket_no, question=c.question, status=c.status, created_at=c.created_at,
        due_at=c.due_at, due_text=c.due_text,
        replies=[ReplyOut(at=r.at, text=r.text, sms_status=r.sms_status) for r in c.replies])


def _staff(c: Consultation) -> StaffConsultationOut:
    return StaffConsultationOut(
        ticket_no=c.ticket_no, question=c.question, status=c.status, created_at=c.created_at,
        due_at=c.due_at, due_text=c.due_text, phone=c.number, channel=c.channel,
        owner=c.owner,
        replies=[StaffReplyOut(at=r.at, text=r.text, sms_status=r.sms_status, by=r.by)
                 for r in c.replies])


# -- the page ----------------------------------------------------------------------------------

@pages_router.get("/consult")
async def page() -> FileResponse:
    return html_page(STATIC / "consult.html")


@pages_router.get("/consult/static/{name}")
async def asset(name: str) -> FileResponse:
    return static_asset(STATIC, ASSETS, name)


# -- the page's calls ------------------------------------------------------------------------

@router.post("/code", response_model=CodeOut, status_code=202,
             summary="Text a verification code to a mobile number",
             responses=problems(422, 429, 503))
async def send_code(body: CodeIn, request: Request) -> CodeOut:
    service = consult_service(request)
    address = request.client.host if request.client else ""
    sent = await service.send_code(body.phone, address)
    return CodeOut(phone=masked(sent.number), expires_at=sent.expires_at,
                   resend_after_s=sent.resend_after_s)


@router.post("/session", response_model=SessionOut, summary="Check the code: a session",
             responses=problems(400, 422, 429))
async def verify(body: VerifyIn, request: Request, response: Response) -> SessionOut:
    service = consult_service(request)
    verified = await asyncio.to_thread(service.verify, body.phone, body.code)
    settings: Settings = request.app.state.settings
    response.set_cookie(COOKIE, verified.token, httponly=True,
                        secure=settings.session_cookie_secure, samesite="strict",
                        path=COOKIE_PATH,
                        max_age=int(service.policy.session_ttl.total_seconds()))
    return SessionOut(phone=masked(verified.number), expires_at=verified.expires_at)


@router.get("/session", response_model=SessionOut, summary="The page's verified number",
            responses=problems(401))
async def current_session(request: Request, token: Token = None) -> SessionOut:
    service = consult_service(request)
    number, expires = await asyncio.to_thread(service.session, token)
    return SessionOut(phone=masked(number), expires_at=expires)


@router.delete("/session", status_code=204, summary="End the page's session")
async def end_session(request: Request, response: Response, token: Token = None) -> None:
    await asyncio.to_thread(consult_service(request).end_session, token)
    response.delete_cookie(COOKIE, path=COOKIE_PATH)


@router.get("/suggest", response_model=SuggestOut,
            summary="The knowledge base's answers for the words typed so far",
            responses=problems(401, 422))
async def suggest(request: Request, q: Annotated[str, Query(max_length=8000)] = "",
                  token: Token = None) -> SuggestOut:
    service = consult_service(request)
    await asyncio.to_thread(service.session_number, token)
    decision, found = await asyncio.to_thread(service.suggest, q)
    return SuggestOut(decision=decision, suggestions=[
        SuggestionOut(id=s.id, question=s.question, answer=s.answer) for s in found])


@router.post("/questions", response_model=ConsultationOut, status_code=201,
             summary="Submit a question: a consultation with its reply deadline",
             responses=problems(401, 422, 429, 503))
async def ask(body: QuestionIn, request: Request, token: Token = None) -> ConsultationOut:
    service = consult_service(request)
    number = await asyncio.to_thread(service.session_number, token)
    return _public(await asyncio.to_thread(service.ask, number, body.question))


@router.get("/questions", response_model=list[ConsultationOut],
            summary="The verified number's consultations and their replies",
            responses=problems(401))
async def mine(request: Request, token: Token = None) -> list[ConsultationOut]:
    service = consult_service(request)
    number = await asyncio.to_thread(service.session_number, token)
    return [_public(c) for c in await asyncio.to_thread(service.consultations, number)]


# -- the console ---------------------------------------------------------------------------

@staff_router.get("/{ticket_no}", response_model=StaffConsultationOut,
                  responses=problems(404, 409))
async def consultation(ticket_no: TicketNo, _user: AnyStaff,
                       request: Request) -> StaffConsultationOut:
    service = consult_service(request)
    return _staff(await asyncio.to_thread(service.consultation, ticket_no))


@staff_router.post("/{ticket_no}/reply", response_model=StaffConsultationOut,
                   summary="Reply to a consultation: sent by text, shown on the page",
                   responses=problems(403, 404, 409, 422))
async def reply(ticket_no: TicketNo, body: ReplyIn, user: AnyStaff,
                request: Request) -> StaffConsultationOut:
    service = consult_service(request)
    current = await asyncio.to_thread(service.consultation, ticket_no)
    check_work(user, current.owner, "工单")  # NotYours: 403
    if current.owner is None:  # the one who answers takes it
        desk = TicketDesk(request.app.state.db, request.app.state.clock)
        await asyncio.to_thread(lambda: desk.assign(ticket_no, user.username,
                                                    by=user.username, expected_owner=None))
    return _staff(await service.reply(ticket_no, body.text, user.username))
