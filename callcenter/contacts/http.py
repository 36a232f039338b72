"""``/api/v1/contacts``: the contact log with its timelines.

``GET /contacts?...`` filters by query parameters; ``POST /contacts/search`` takes the same
filters as a JSON body, so that a caller number need not travel in a URL (URLs end up in
logs and browser histories; the access log masks query values anyway, callcenter/edge.py).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from callcenter.auth.deps import CurrentUser
from callcenter.auth.models import Role
from callcenter.auth.services import AuthUser
from callcenter.contacts.models import Direction, Outcome
from callcenter.contacts.schemas import ContactDetail, ContactOut, ContactPage
from callcenter.contacts.services import ContactFilters, ContactService
from callcenter.deps import ContactServiceDep
from callcenter.edge import DB_INT_MAX, utc_moment
from callcenter.openapi import problems

router = APIRouter(prefix="/contacts", tags=["contacts"])

# Agents and experts see only the contacts they were connected to (their own calls, including
# one transferred to or from them); supervisors and admins see every contact.
SEES_ALL = frozenset({Role.SUPERVISOR, Role.ADMIN})
LINKEDID = r"^[A-Za-z0-9._-]{1,64}$"


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return utc_moment(value, name)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


class ContactSearch(BaseModel):
    """The filters of ``GET /contacts``, as a JSON body."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: datetime | None = Field(default=None, alias="from", description="started at/after")
    end: datetime | None = Field(default=None, alias="to", description="started before")
    outcome: Outcome | None = None
    queue: str | None = Field(default=None, max_length=64)
    agent: str | None = Field(default=None, max_length=128)
    caller: str | None = Field(default=None, max_length=64)
    linkedid: str | None = Field(default=None, pattern=LINKEDID)
    direction: Direction | None = Field(
        default=None, description="inbound (呼入) or outbound (外呼: callback attempts)")
    limit: int = Field(default=100, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=DB_INT_MAX)


async def _search(service: ContactService, user: AuthUser, q: ContactSearch) -> ContactPage:
    filters = ContactFilters(_aware(q.start, "from"), _aware(q.end, "to"), q.outcome, q.queue,
                             q.agent, q.caller,
                             None if user.role in SEES_ALL else user.username,
                             linkedid=q.linkedid, direction=q.direction)
    if filters.start and filters.end and filters.start >= filters.end:
        raise HTTPException(422, "“from”须早于“to”")
    total, rows = await asyncio.to_thread(service.search, filters, q.limit, q.offset)
    return ContactPage(total=total, limit=q.limit, offset=q.offset,
                       items=[ContactOut.model_validate(r) for r in rows])


@router.get("", response_model=ContactPage)
async def list_contacts(
    service: ContactServiceDep,
    user: CurrentUser,
    start: Annotated[datetime | None, Query(alias="from", description="started at/after")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="started before")] = None,
    outcome: Outcome | None = None,
    queue: Annotated[str | None, Query(max_length=64)] = None,
    agent: Annotated[str | None, Query(max_length=128)] = None,
    caller: Annotated[str | None, Query(max_length=64)] = None,
    linkedid: Annotated[str | None, Query(pattern=LINKEDID)] = None,
    direction: Annotated[Direction | None, Query(
        description="inbound (呼入) or outbound (外呼: callback attempts)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=DB_INT_MAX)] = 0,
) -> ContactPage:
    return await _search(service, user, ContactSearch.model_validate({
        "from": start, "to": end, "outcome": outcome, "queue": queue, "agent": agent,
        "caller": caller, "linkedid": linkedid, "direction": direction, "limit": limit,
        "offset": offset}))


@router.post("/search", response_model=ContactPage)
async def search_contacts(body: ContactSearch, service: ContactServiceDep,
                          user: CurrentUser) -> ContactPage:
    """Like ``GET /contacts``, with the filters in the body (a caller number stays out of
    URLs)."""
    return await _search(service, user, body)


@router.get("/{contact_id}", response_model=ContactDetail, responses=problems(404))
async def get_contact(contact_id: Annotated[int, Path(ge=1, le=DB_INT_MAX)],
                      service: ContactServiceDep, user: CurrentUser) -> ContactDetail:
    contact = await asyncio.to_thread(service.get, contact_id)
    if contact is None:
        raise HTTPException(404, f"contact {contact_id} not found")
    if user.role not in SEES_ALL and user.username not in contact.agents():
        raise HTTPException(403, "只能查看本人接听过的来电记录")
    return ContactDetail.model_validate(contact)
