"""``/api/v1/callbacks/{id}/accept|skip|result|dial``: the preview card's buttons, the
agent's verdict after the call, and a supervisor's "call back now". The dialler of the
agent's bridge (callcenter/outbound/dialler.py) reads the decision from the request's row,
so the routes work the same from any API worker."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from callcenter.auth.deps import Supervisor, UserServiceDep, require_roles
from callcenter.auth.models import CALL_CENTRE_ROLES, Role
from callcenter.auth.services import AuthUser
from callcenter.contacts.services import ContactService
from callcenter.edge import DB_INT_MAX
from callcenter.openapi import problems
from callcenter.outbound.book import CallbackBook, OutboundError
from callcenter.outbound.schemas import DialIn, OutboundCallbackOut, ResultIn
from ivr.events import CallbackDialled, OutcomeSet
from ivr.ports import ContactEvent

router = APIRouter(tags=["outbound callbacks"])
Staff = Annotated[AuthUser, Depends(require_roles(Role.AGENT, Role.EXPERT))]
Anyone = Annotated[AuthUser, Depends(require_roles(*CALL_CENTRE_ROLES))]
CallbackId = Annotated[int, Path(ge=1, le=DB_INT_MAX)]
STAFF_ROLES = {str(Role.AGENT), str(Role.EXPERT)}


def callback_book(request: Request) -> CallbackBook:
    return CallbackBook(request.app.state.db, request.app.state.clock)


Book = Annotated[CallbackBook, Depends(callback_book)]


@router.post("/callbacks/{callback_id}/accept", response_model=OutboundCallbackOut,
             responses=problems(404, 409))
async def accept(callback_id: CallbackId, user: Staff, book: Book) -> OutboundCallbackOut:
    """Dial the callback offered to me now (the preview card's 立即回拨)."""
    request = await asyncio.to_thread(book.decide, callback_id, user.username, "accept")
    return OutboundCallbackOut.model_validate(request)


@router.post("/callbacks/{callback_id}/skip", response_model=OutboundCallbackOut,
             responses=problems(404, 409))
async def skip(callback_id: CallbackId, user: Staff, book: Book) -> OutboundCallbackOut:
    """Give the callback offered to me back (offered to another agent)."""
    request = await asyncio.to_thread(book.decide, callback_id, user.username, "skip")
    return OutboundCallbackOut.model_validate(request)


@router.post("/callbacks/{callback_id}/result", response_model=OutboundCallbackOut,
             responses=problems(403, 404, 409))
async def set_result(callback_id: CallbackId, body: ResultIn, user: Anyone, book: Book,
                     request: Request) -> OutboundCallbackOut:
    """The agent who reached the number: it was the wrong person's (closed, failed)."""
    boss = user.role in (Role.SUPERVISOR, Role.ADMIN)
    callback = await asyncio.to_thread(book.wrong_number, callback_id, user.username, boss)
    if callback.attempt_linkedid:
        event_at = request.app.state.clock()
        events = [ContactEvent(callback.attempt_linkedid, CallbackDialled(
                      callback_id=callback.id, attempt=callback.attempts, stage="verdict",
                      agent=callback.offered_to or user.username, status=body.result,
                      queue=callback.queue, by=user.username), at=event_at),
                  ContactEvent(callback.attempt_linkedid, OutcomeSet(outcome=body.result),
                               at=event_at)]
        runtime = getattr(request.app.state, "runtime", None)
        if runtime is not None:
            for event in events:
                runtime.contact_log.record(event)
        else:  # an API worker without a contact log: stored here
            contacts = ContactService(request.app.state.db)
            for event in events:
                await asyncio.to_thread(contacts.apply, event)
    return OutboundCallbackOut.model_validate(callback)


@router.post("/callbacks/{callback_id}/dial", response_model=OutboundCallbackOut,
             responses=problems(404, 409, 422))
async def dial_now(callback_id: CallbackId, body: DialIn, user: Supervisor, book: Book,
                   users: UserServiceDep) -> OutboundCallbackOut:
    """A supervisor has a pending callback called back now by ``agent`` (offered to that
    agent once ready, inside service hours)."""
    agent = await asyncio.to_thread(users.active_staff, body.agent)
    if agent is None:
        raise OutboundError(f"坐席 {body.agent} 不存在或已停用", 404)
    if str(agent.role) not in STAFF_ROLES:
        raise OutboundError(f"用户 {body.agent} 不是坐席或专家，不能回拨", 422)
    request = await asyncio.to_thread(book.dial_now, callback_id, body.agent, user.username)
    return OutboundCallbackOut.model_validate(request)
