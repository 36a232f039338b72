"""``/api/v1/queues`` and the other desk configuration: reads for every role, writes for
admins (each audited; queue changes are pushed to Asterisk at once)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request

from callcenter.auth.deps import Admin, require_roles
from callcenter.auth.models import CALL_CENTRE_ROLES, Role
from callcenter.auth.schemas import USERNAME_REF_PATTERN
from callcenter.auth.services import AuthUser
from callcenter.openapi import problems
from callcenter.queues.schemas import (
    NAME,
    AgentSkillsIn,
    CodeIn,
    CodeOut,
    QueueIn,
    QueueOut,
    SkillIn,
    SkillOut,
)
from callcenter.queues.services import QueueService

router = APIRouter(tags=["queues"])
Anyone = Annotated[AuthUser, Depends(require_roles(*CALL_CENTRE_ROLES))]
Name = Annotated[str, Path(pattern=NAME)]
Username = Annotated[str, Path(pattern=USERNAME_REF_PATTERN)]
BOSSES = frozenset({Role.SUPERVISOR, Role.ADMIN})


def get_queue_service(request: Request) -> QueueService:
    return QueueService(request.app.state.db, request.app.state.clock)


QueuesDep = Annotated[QueueService, Depends(get_queue_service)]


async def _push(request: Request) -> bool:
    """Push to Asterisk when connected (every node's, through its bridge, with several
    processes); False when it must wait for the next connection."""
    front = getattr(request.app.state, "desk_front", None)
    if front is None:
        return False
    try:
        return bool(await front.push_queues())
    except Exception as exc:
        raise HTTPException(502, f"配置已保存，但推送到交换机失败：{exc}") from exc


@router.get("/desk/lookups")
async def lookups(_user: Anyone, queues: QueuesDep) -> dict[str, Any]:
    """Everything the console's menus need: queues, pause reasons, dispositions."""
    q, reasons, dispositions = await asyncio.gather(
        asyncio.to_thread(queues.queues, True), asyncio.to_thread(queues.pause_reasons),
        asyncio.to_thread(queues.dispositions))
    return {
        "queues": [{"name": x.name, "title": x.title, "expert": x.expert} for x in q],
        "pause_reasons": [{"code": r.code, "title": r.title} for r in reasons],
        "dispositions": [{"code": d.code, "title": d.title} for d in dispositions],
    }


@router.get("/queues", response_model=list[QueueOut])
async def list_queues(_user: Anyone, queues: QueuesDep) -> list[QueueOut]:
    return [QueueOut.model_validate(q) for q in await asyncio.to_thread(queues.queues)]


@router.put("/queues/{name}", response_model=QueueOut, responses=problems(502))
async def save_queue(name: Name, body: QueueIn, admin: Admin, queues: QueuesDep,
                     request: Request) -> QueueOut:
    queue = await asyncio.to_thread(queues.save_queue, {"name": name, **body.model_dump()},
                                    actor=admin.username)
    await _push(request)
    return QueueOut.model_validate(queue)


@router.post("/queues/push", responses=problems(502))
async def push(admin: Admin, request: Request) -> dict[str, bool]:
    return {"pushed": await _push(request)}


@router.get("/skills", response_model=list[SkillOut])
async def list_skills(_user: Anyone, queues: QueuesDep) -> list[SkillOut]:
    return [SkillOut.model_validate(s) for s in await asyncio.to_thread(queues.skills)]


@router.put("/skills/{name}", response_model=SkillOut)
async def save_skill(name: Name, body: SkillIn, admin: Admin, queues: QueuesDep) -> SkillOut:
    skill = await asyncio.to_thread(queues.save_skill, name, body.title, actor=admin.username)
    return SkillOut.model_validate(skill)


@router.get("/agents/{username}/skills")
async def agent_skills(username: Username, user: Anyone, queues: QueuesDep) -> dict[str, int]:
    """An agent's skills: agents and experts read their own, supervisors and admins anyone's."""
    if user.role not in BOSSES and username != user.username:
        raise HTTPException(403, "只能查看本人的技能")
    return {s.skill: s.penalty for s in await asyncio.to_thread(queues.agent_skills, username)}


@router.put("/agents/{username}/skills", responses=problems(404))
async def set_agent_skills(username: Username, body: AgentSkillsIn, admin: Admin,
                           queues: QueuesDep) -> dict[str, int]:
    bad = [k for k, v in body.skills.items() if not 0 <= v <= 10]
    if bad:
        raise HTTPException(422, f"技能等级（penalty）必须在 0 到 10 之间：{'、'.join(bad)}")
    await asyncio.to_thread(queues.set_agent_skills, username, body.skills,
                            actor=admin.username)
    return body.skills


@router.put("/pause-reasons/{code}", response_model=CodeOut)
async def save_pause_reason(code: Name, body: CodeIn, admin: Admin,
                            queues: QueuesDep) -> CodeOut:
    await asyncio.to_thread(queues.save_pause_reason, code, body.title, body.active,
                            actor=admin.username)
    return CodeOut(code=code, title=body.title, active=body.active)


@router.put("/dispositions/{code}", response_model=CodeOut)
async def save_disposition(code: Name, body: CodeIn, admin: Admin,
                           queues: QueuesDep) -> CodeOut:
    await asyncio.to_thread(queues.save_disposition, code, body.title, body.active,
                            actor=admin.username)
    return CodeOut(code=code, title=body.title, active=body.active)
