"""``/api/v1/tickets`` and ``/api/v1/callbacks``: complaint/report tickets and callback requests
for the console. Every staff role reads them; agents and experts take unowned work and work on
their own; supervisors and admins assign anyone's."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from callcenter.auth.deps import UserServiceDep, require_roles
from callcenter.auth.models import CALL_CENTRE_ROLES
from callcenter.auth.schemas import USERNAME_REF_PATTERN
from callcenter.auth.services import AuthUser, UserService
from callcenter.edge import DB_INT_MAX
from callcenter.openapi import problems
from callcenter.tickets.desk import TicketDesk
from callcenter.tickets.ownership import (
    check_assignment,
    check_owner,
    check_work,
)
from callcenter.tickets.services import TicketService
from ivr.events import CallbackRequested, EventRecord, TicketCreated
from ivr.ports import ContactEvent

router = APIRouter(tags=["tickets"])
Anyone = Annotated[AuthUser, Depends(require_roles(*CALL_CENTRE_ROLES))]
TicketNo = Annotated[str, Path(pattern=r"^[0-9A-Za-z-]{1,20}$")]
CallbackId = Annotated[int, Path(ge=1, le=DB_INT_MAX)]
# the call a work item comes from: a contact that exists (or none)
LINKEDID_PATTERN = r"^([A-Za-z0-9._-]{1,64})?$"


class HistoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    from_status: str | None
    to_status: str
    by: str
    note: str


class TicketOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    ticket_no: str
    kind: str
    status: str
    caller: str
    linkedid: str
    summary: str
    owner: str | None
    created_at: datetime
    due_at: datetime
    updated_at: datetime


class TicketDetail(TicketOut):
    history: list[HistoryOut]


class CallbackOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    number: str
    linkedid: str
    reason: str
    status: str
    owner: str | None
    created_at: datetime
    due_at: datetime
    done_at: datetime | None
    # the outbound dialler's (callcenter/outbound): the queue whose agents call back, the
    # attempts made, the agent it is offered to, the last attempt's result and contact
    queue: str | None = None
    attempts: int = 0
    offered_to: str | None = None
    result: str | None = None
    attempt_linkedid: str | None = None


class TicketIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["complaint", "report", "director", "consult"]
    caller: str = Field(pattern=r"^[0-9+]{3,32}$")
    linkedid: str = Field(default="", pattern=LINKEDID_PATTERN,
                          description="the call's linkedid: an existing contact, or empty")
    summary: str = Field(default="", max_length=4000)


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["open", "in_progress", "answered", "closed"]
    note: str = Field(default="", max_length=2000)


class OwnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    owner: str | None = Field(default=None, pattern=USERNAME_REF_PATTERN,
                              description="an active user; null: nobody")


class CallbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(pattern=r"^[0-9]{3,32}$")
    linkedid: str = Field(default="", pattern=LINKEDID_PATTERN,
                          description="the call's linkedid: an existing contact, or empty")
    reason: str = Field(default="坐席预约回电", max_length=64)


class CallbackUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["done", "failed", "cancelled"] | None = None
    owner: str | None = Field(default=None, pattern=r"^([A-Za-z0-9_.-]{2,64})?$",
                              description="an active user; empty: nobody")


def ticket_service(request: Request) -> TicketService:
    """The process's ticket service (built once by the app's lifespan: ``app.state.tickets``);
    none when the service calendar could not be loaded (the health report says why)."""
    service = getattr(request.app.state, "tickets", None)
    if not isinstance(service, TicketService):
        raise HTTPException(503, "工单服务暂不可用：服务日历无法加载")
    return service


def ticket_desk(request: Request) -> TicketDesk:
    return TicketDesk(request.app.state.db, request.app.state.clock)


Tickets = Annotated[TicketService, Depends(ticket_service)]
Desk = Annotated[TicketDesk, Depends(ticket_desk)]


async def _existing_call(request: Request, linkedid: str) -> None:
    """A work item names a call that happened (or none): staff cannot invent contacts."""
    if not linkedid:
        return
    contacts = request.app.state.contacts
    if await asyncio.to_thread(contacts.get_by_linkedid, linkedid) is None:
        raise HTTPException(422, f"linkedid: 通话 {linkedid} 不存在")


async def _owner_exists(users: UserService, owner: str | None) -> None:
    await asyncio.to_thread(check_owner, users, owner)  # NoSuchOwner: 422


def _record(request: Request, linkedid: str, record: EventRecord) -> None:
    runtime = getattr(request.app.state, "runtime", None)
    if linkedid and runtime is not None:
        runtime.contact_log.record(ContactEvent(linkedid, record,
                                                at=request.app.state.clock()))


@router.get("/tickets", response_model=list[TicketOut])
async def list_tickets(_user: Anyone, desk: Desk,
                       status: Literal["open", "in_progress", "answered", "closed"] | None = None,
                       owner: Annotated[str | None, Query(max_length=64)] = None,
                       kind: Literal["complaint", "report", "director", "consult"] | None = None,
                       ) -> list[TicketOut]:
    rows = await asyncio.to_thread(lambda: desk.tickets(status=status, owner=owner, kind=kind))
    return [TicketOut.model_validate(r) for r in rows]


@router.get("/tickets/overdue")
async def overdue(_user: Anyone, desk: Desk) -> dict[str, Any]:
    """Tickets and callbacks past their due time (the service commitment)."""
    tickets, callbacks = await asyncio.to_thread(desk.overdue)
    return {"tickets": [TicketOut.model_validate(t).model_dump(mode="json") for t in tickets],
            "callbacks": [CallbackOut.model_validate(c).model_dump(mode="json")
                          for c in callbacks]}


@router.get("/tickets/{ticket_no}", response_model=TicketDetail, responses=problems(404))
async def get_ticket(ticket_no: TicketNo, _user: Anyone, desk: Desk) -> TicketDetail:
    ticket = await asyncio.to_thread(desk.ticket, ticket_no)
    if ticket is None:
        raise HTTPException(404, f"工单 {ticket_no} 不存在")
    return TicketDetail.model_validate(ticket)


@router.post("/tickets", response_model=TicketDetail, status_code=201)
async def create_ticket(body: TicketIn, user: Anyone, tickets: Tickets, desk: Desk,
                        request: Request) -> TicketDetail:
    await _existing_call(request, body.linkedid)
    ticket = await asyncio.to_thread(
        lambda: tickets.create(body.kind, body.caller, body.linkedid, None, body.summary,
                               by=user.username))
    _record(request, body.linkedid, TicketCreated(ticket_no=ticket.ticket_no, type=body.kind,
                                                  by=user.username))
    detail = await asyncio.to_thread(desk.ticket, ticket.ticket_no)
    return TicketDetail.model_validate(detail)


@router.post("/tickets/{ticket_no}/status", response_model=TicketDetail,
             responses=problems(404, 409))
async def change_status(ticket_no: TicketNo, body: StatusIn, user: Anyone, tickets: Tickets,
                        desk: Desk) -> TicketDetail:
    ticket = await asyncio.to_thread(desk.ticket, ticket_no)
    if ticket is None:
        raise HTTPException(404, f"工单 {ticket_no} 不存在")
    check_work(user, ticket.owner, "工单")  # NotYours: 403
    updated = await asyncio.to_thread(tickets.change_status, ticket_no, body.status,
                                      user.username, body.note)  # TicketError: 409
    return TicketDetail.model_validate(updated)


@router.post("/tickets/{ticket_no}/owner", response_model=TicketDetail,
             responses=problems(404, 409))
async def assign(ticket_no: TicketNo, body: OwnerIn, user: Anyone, desk: Desk,
                 users: UserServiceDep) -> TicketDetail:
    ticket = await asyncio.to_thread(desk.ticket, ticket_no)
    if ticket is None:
        raise HTTPException(404, f"工单 {ticket_no} 不存在")
    check_assignment(user, ticket.owner, body.owner, "工单")
    await _owner_exists(users, body.owner)
    updated = await asyncio.to_thread(lambda: desk.assign(
        ticket_no, body.owner, by=user.username, expected_owner=ticket.owner))
    return TicketDetail.model_validate(updated)


@router.get("/callbacks", response_model=list[CallbackOut])
async def list_callbacks(_user: Anyone, desk: Desk,
                         status: Literal["pending", "offered", "dialling", "done", "failed",
                                         "cancelled"] | None = None
                         ) -> list[CallbackOut]:
    return [CallbackOut.model_validate(c) for c in await asyncio.to_thread(desk.callbacks,
                                                                           status)]


@router.post("/callbacks", response_model=CallbackOut, status_code=201)
async def create_callback(body: CallbackIn, user: Anyone, tickets: Tickets,
                          request: Request) -> CallbackOut:
    await _existing_call(request, body.linkedid)
    callback = await asyncio.to_thread(tickets.request_callback, body.number,
                                       body.linkedid, body.reason)  # a bad number: 422
    _record(request, body.linkedid, CallbackRequested(
        callback_id=callback.id, number=body.number, due_at=callback.due_at.isoformat(),
        by=user.username))
    return CallbackOut.model_validate(callback)


@router.post("/callbacks/{callback_id}", response_model=CallbackOut,
             responses=problems(404, 409))
async def update_callback(callback_id: CallbackId, body: CallbackUpdate, user: Anyone,
                          desk: Desk, users: UserServiceDep) -> CallbackOut:
    """Same rule as tickets: agents work on their own and unowned callbacks, take unowned
    ones and give back their own; supervisors and admins anything."""
    current = await asyncio.to_thread(desk.callback, callback_id)
    if current is None:
        raise HTTPException(404, f"回电请求 {callback_id} 不存在")
    new_owner = None if body.owner == "" else body.owner
    check_work(user, current.owner, "回电")
    if body.owner is not None:
        check_assignment(user, current.owner, new_owner, "回电")
    if body.owner is not None:
        await _owner_exists(users, new_owner)
    callback = await asyncio.to_thread(lambda: desk.update_callback(
        callback_id, by=user.username, status=body.status, owner=body.owner,
        expected_owner=current.owner))  # NotFound: 404, TicketError: 409
    return CallbackOut.model_validate(callback)
