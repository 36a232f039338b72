"""``/api/v1/agents`` (states, the board, the ready agents, transfer) and ``/api/v1/calls``
(notes)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request

from callcenter.agents.front import DeskFront
from callcenter.agents.schemas import (
    ConsultRequest,
    MonitorRequest,
    NoteIn,
    NoteOut,
    StateRequest,
    TransferRequest,
)
from callcenter.auth.deps import Supervisor, require_roles
from callcenter.auth.models import CALL_CENTRE_ROLES, Role
from callcenter.auth.schemas import USERNAME_REF_PATTERN
from callcenter.auth.services import AuthUser
from callcenter.openapi import problems

router = APIRouter(tags=["agents"])

Staff = Annotated[AuthUser, Depends(require_roles(Role.AGENT, Role.EXPERT))]
Anyone = Annotated[AuthUser, Depends(require_roles(*CALL_CENTRE_ROLES))]
LINKEDID = Path(pattern=r"^[A-Za-z0-9._-]{1,64}$")


BOSSES = frozenset({Role.SUPERVISOR, Role.ADMIN})
# what the desk may answer besides success (DeskError.status, rendered by the app's one
# domain-error handler: callcenter/errors.py) and 503 without the desk; with several API
# workers, 503 when no bridge runs for the agent's node and 504 when it does not answer
DESK_ERRORS = problems(404, 409, 502, 503, 504)


def get_desk(request: Request) -> DeskFront:
    """The desk as this process reaches it (callcenter/agents/front.py), built by the
    app's lifespan."""
    front: DeskFront | None = getattr(request.app.state, "desk_front", None)
    if front is None:
        raise HTTPException(503, "坐席服务未启动")
    return front


DeskDep = Annotated[DeskFront, Depends(get_desk)]


async def _change(desk: DeskFront, username: str, body: StateRequest, by: str
                  ) -> dict[str, Any]:
    return await desk.change(username, body.state, body.reason, by=by)


@router.get("/agents/me", responses=DESK_ERRORS)
async def my_state(user: Staff, desk: DeskDep) -> dict[str, Any]:
    return await desk.state(user.username)


@router.post("/agents/me/state", responses=DESK_ERRORS)
async def change_my_state(body: StateRequest, user: Staff, desk: DeskDep) -> dict[str, Any]:
    return await _change(desk, user.username, body, user.username)


@router.post("/agents/me/transfer", responses=DESK_ERRORS)
async def transfer(body: TransferRequest, user: Staff, desk: DeskDep) -> dict[str, Any]:
    linkedid = await desk.transfer(user.username, body.queue, by=user.username)
    return {"transferred": True, "queue": body.queue, "linkedid": linkedid}


@router.post("/agents/me/hold", responses=DESK_ERRORS)
async def hold(user: Staff, desk: DeskDep) -> dict[str, Any]:
    """Put the caller on hold: they hear the hotline's music, neither side hears the other
    (docs/console.md "Hold"); 409 without a call or when held already."""
    return await desk.hold(user.username)


@router.post("/agents/me/resume", responses=DESK_ERRORS)
async def resume(user: Staff, desk: DeskDep) -> dict[str, Any]:
    """Take the held caller back; ``held_seconds``: how long the hold lasted."""
    return await desk.resume(user.username)


@router.post("/agents/me/consult", responses=problems(409, 422, 502, 503, 504))
async def consult(body: ConsultRequest, user: Staff, desk: DeskDep) -> dict[str, Any]:
    """Consultative transfer, first step: the caller hears music on hold, the agent's phone is
    connected to the expert seat (``queue``, default ``experts``) ringing; ``notes``: the
    agent's notes so far, shown on the expert's card (docs/console.md "Consultative
    transfer"). ``agent`` instead of ``queue``: that agent's phone rings (they must be ready).
    409: no call, or consulting already, or the agent named is oneself or not ready; 422: no
    such queue, no such agent or one without a phone, both queue and agent given."""
    return await desk.consult(user.username, "start", body.queue, body.notes, body.agent)


@router.post("/agents/me/consult/{action}", responses=problems(409, 422, 502, 503, 504))
async def consult_step(user: Staff, desk: DeskDep,
                       action: Annotated[str, Path(pattern=r"^(complete|conference|cancel)$")]
                       ) -> dict[str, Any]:
    """``complete``: the caller goes on with the expert, the agent's leg ends (wrap-up);
    ``conference``: caller, agent and expert together (any may leave); ``cancel``: the
    expert's leg ends, the caller is back with the agent. 409 without a consultation, or
    (complete, conference) before the expert answered."""
    return await desk.consult(user.username, action)


@router.post("/agents/{username}/monitor", responses=problems(404, 409, 422, 502, 503, 504))
async def monitor(body: MonitorRequest, user: Supervisor, desk: DeskDep,
                  username: Annotated[str, Path(pattern=USERNAME_REF_PATTERN)]
                  ) -> dict[str, Any]:
    """The supervisor's own phone (their ``interface``) is dialled into the agent's live call
    to listen, whisper or barge; audited (``call.monitor``), the agent is not told."""
    return await desk.monitor(username, body.mode, supervisor=user.username,
                              interface=user.interface)


@router.get("/agents/board", responses=DESK_ERRORS)
async def board(_user: Supervisor, desk: DeskDep) -> dict[str, Any]:
    return await desk.board()


@router.get("/agents/ready", responses=DESK_ERRORS)
async def ready_agents(user: Staff, desk: DeskDep) -> list[dict[str, Any]]:
    """The other agents who are 就绪 with a phone, read-only (username, display name): whom
    the console's 咨询转接 may consult by name (docs/console.md "Consulting one named
    agent")."""
    board = await desk.board()
    return [{"username": a["username"], "display_name": a["display_name"]}
            for a in board.get("agents", ())
            if a.get("state") == "ready" and a.get("interface")
            and a["username"] != user.username]


@router.post("/agents/{username}/state", responses=DESK_ERRORS)
async def change_state(body: StateRequest, user: Supervisor, desk: DeskDep,
                       username: Annotated[str, Path(pattern=USERNAME_REF_PATTERN)]
                       ) -> dict[str, Any]:
    if body.state == "ready":
        raise HTTPException(403, "班长只能暂停或签出坐席；就绪需由坐席本人操作")
    return await _change(desk, username, body, user.username)


@router.put("/calls/{linkedid}/note", response_model=NoteOut, responses=DESK_ERRORS)
async def save_note(body: NoteIn, user: Staff, desk: DeskDep,
                    linkedid: Annotated[str, LINKEDID]) -> NoteOut:
    if not await desk.handled(linkedid, user.username):
        raise HTTPException(403, "只能为本人接听的来电填写小结")
    row = await asyncio.to_thread(desk.save_note, linkedid, user.username, body.notes,
                                  body.disposition)
    return NoteOut.model_validate(row)


@router.get("/calls/{linkedid}/notes", response_model=list[NoteOut],
            responses=problems(503))
async def call_notes(user: Anyone, desk: DeskDep,
                     linkedid: Annotated[str, LINKEDID]) -> list[NoteOut]:
    """The notes of a call: supervisors and admins read all; an agent or expert who
    handled the call reads only their own (not the other agent's of a transferred call)."""
    if user.role in BOSSES:
        rows = await asyncio.to_thread(desk.notes, linkedid)
        return [NoteOut.model_validate(r) for r in rows]
    if not await desk.handled(linkedid, user.username):
        raise HTTPException(403, "只能查看本人接听的来电小结")
    rows = await asyncio.to_thread(desk.notes, linkedid)
    return [NoteOut.model_validate(r) for r in rows if r.username == user.username]
