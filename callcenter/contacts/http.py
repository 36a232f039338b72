"""``/api/v1/contacts``: the contact log with its timelines."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from callcenter.auth.deps import CurrentUser
from callcenter.auth.models import Role
from callcenter.contacts.models import Outcome
from callcenter.contacts.schemas import ContactDetail, ContactOut, ContactPage
from callcenter.contacts.services import ContactFilters
from callcenter.deps import ContactServiceDep

router = APIRouter(prefix="/contacts", tags=["contacts"])

# Agents and experts see only the contacts they were connected to (their own calls, including
# one transferred to or from them); supervisors and admins see every contact.
SEES_ALL = frozenset({Role.SUPERVISOR, Role.ADMIN})


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise HTTPException(
            422, f"'{name}' needs a time zone offset, e.g. 2026-11-28T08:00:00+08:00"
        )
    return value.astimezone(UTC)


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
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ContactPage:
    filters = ContactFilters(_aware(start, "from"), _aware(end, "to"), outcome, queue, agent,
                             caller, None if user.role in SEES_ALL else user.username)
    if filters.start and filters.end and filters.start >= filters.end:
        raise HTTPException(422, "'from' must be before 'to'")
    total, rows = await asyncio.to_thread(service.search, filters, limit, offset)
    return ContactPage(total=total, limit=limit, offset=offset,
                       items=[ContactOut.model_validate(r) for r in rows])


@router.get("/{contact_id}", response_model=ContactDetail)
async def get_contact(contact_id: int, service: ContactServiceDep,
                      user: CurrentUser) -> ContactDetail:
    contact = await asyncio.to_thread(service.get, contact_id)
    if contact is None:
        raise HTTPException(404, f"contact {contact_id} not found")
    if user.role not in SEES_ALL and not any(
            e.kind == "agent_connected" and e.data.get("agent") == user.username
            for e in contact.events):
        raise HTTPException(403, "只能查看本人接听过的来电记录")
    return ContactDetail.model_validate(contact)
