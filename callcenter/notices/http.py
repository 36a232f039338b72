"""``/api/v1/notices``: notices to staff by text, for supervisors and admins
(callcenter/notices/services.py; docs/sms.md, "Notices to staff")."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from callcenter.auth.deps import Supervisor
from callcenter.edge import DB_INT_MAX
from callcenter.notices.schemas import NoticeIn
from callcenter.notices.services import NoticeService, NoticeView
from callcenter.openapi import problems
from callcenter.sms.http import sms_of

router = APIRouter(prefix="/notices", tags=["notices"])


def notice_service(request: Request) -> NoticeService:
    state = request.app.state
    return NoticeService(state.db, state.clock, sms_of(state, state.settings))


@router.post("", response_model=NoticeView, status_code=201,
             summary="Text a notice to staff (all agents, a queue's agents, chosen users)",
             responses=problems(403, 422))
async def send(body: NoticeIn, user: Supervisor, request: Request) -> NoticeView:
    return await notice_service(request).send(user.username, body.text, body.audience,
                                              queue=body.queue, usernames=body.usernames)


@router.get("", response_model=list[NoticeView], summary="The latest notices and their texts' "
            "delivery", responses=problems(403))
async def latest(_user: Supervisor, request: Request,
                 limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[NoticeView]:
    return await asyncio.to_thread(notice_service(request).notices, limit)


@router.get("/{notice_id}", response_model=NoticeView, responses=problems(403, 404))
async def one(notice_id: Annotated[int, Path(ge=1, le=DB_INT_MAX)], _user: Supervisor,
              request: Request) -> NoticeView:
    return await asyncio.to_thread(notice_service(request).notice, notice_id)
