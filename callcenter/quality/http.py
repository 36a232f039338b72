"""Quality review over HTTP (``/api/v1/quality``; docs/console.md "Quality review").

* ``GET /quality/forms``: supervisors and admins; ``PUT /quality/forms/{name}``: admins (a new
  version of the form).
* ``POST /quality/reviews``, ``PUT /quality/reviews/{id}``: supervisors and admins (an edit:
  the reviewer only).
* ``GET /quality/reviews``, ``GET /quality/reviews/{id}``: everyone; agents and experts their
  own calls' reviews only. ``POST /quality/reviews/{id}/ack``: the reviewed agent.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from callcenter.auth.deps import Admin, CurrentUser, Supervisor
from callcenter.edge import DB_INT_MAX
from callcenter.openapi import problems
from callcenter.quality.schemas import FormIn, ReviewIn, ReviewUpdate
from callcenter.quality.services import FormView, QualityService, ReviewView
from callcenter.recordings.services import recording_service

router = APIRouter(prefix="/quality", tags=["quality"])
Id = Annotated[int, Path(ge=1, le=DB_INT_MAX)]
FormName = Annotated[str, Path(max_length=32)]


def get_quality(request: Request) -> QualityService:
    state = request.app.state
    return QualityService(state.db, state.clock,
                          recording_service(state.settings, state.db, state.clock),
                          state.contacts)


QualityDep = Annotated[QualityService, Depends(get_quality)]


@router.get("/forms", response_model=list[FormView])
async def forms(_user: Supervisor, quality: QualityDep,
                all_versions: Annotated[bool, Query(description=(
                    "every version, not only the newest of each form"))] = False
                ) -> list[FormView]:
    """The review forms (the newest version of each; new reviews are scored on it)."""
    return await asyncio.to_thread(quality.forms, all_versions)


@router.put("/forms/{name}", response_model=FormView, responses=problems(409, 422))
async def save_form(name: FormName, body: FormIn, user: Admin,
                    quality: QualityDep) -> FormView:
    """Save a form's criteria (max score, weight): a new version; reviews scored on the
    old one keep it."""
    return await asyncio.to_thread(
        quality.save_form, name, body.title, [c.model_dump() for c in body.criteria],
        actor=user.username)


@router.post("/reviews", response_model=ReviewView, status_code=201,
             responses=problems(403, 404, 409, 422))
async def create_review(body: ReviewIn, user: CurrentUser, quality: QualityDep) -> ReviewView:
    """Score an agent's leg of a recorded call (one review per reviewer and leg)."""
    return await asyncio.to_thread(
        lambda: quality.create_review(user, contact_id=body.contact_id, agent=body.agent,
                                      form_id=body.form_id, scores=body.scores,
                                      comment=body.comment))


@router.put("/reviews/{review_id}", response_model=ReviewView,
            responses=problems(403, 404, 422))
async def update_review(review_id: Id, body: ReviewUpdate, user: CurrentUser,
                        quality: QualityDep) -> ReviewView:
    """Change one's own review (the agent's acknowledgement is cleared)."""
    return await asyncio.to_thread(
        lambda: quality.update_review(user, review_id, scores=body.scores,
                                      comment=body.comment))


@router.get("/reviews", response_model=list[ReviewView], responses=problems(403))
async def reviews(user: CurrentUser, quality: QualityDep,
                  contact_id: Annotated[int | None, Query(ge=1, le=DB_INT_MAX)] = None,
                  agent: Annotated[str | None, Query(max_length=64)] = None,
                  limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[ReviewView]:
    """Reviews, newest call first (agents and experts: their own calls only)."""
    return await asyncio.to_thread(
        lambda: quality.reviews(user, contact_id=contact_id, agent=agent, limit=limit))


@router.get("/reviews/{review_id}", response_model=ReviewView, responses=problems(403, 404))
async def review(review_id: Id, user: CurrentUser, quality: QualityDep) -> ReviewView:
    return await asyncio.to_thread(quality.review, user, review_id)


@router.post("/reviews/{review_id}/ack", response_model=ReviewView,
             responses=problems(403, 404))
async def acknowledge(review_id: Id, user: CurrentUser, quality: QualityDep) -> ReviewView:
    """The reviewed agent has read the review (the time is recorded)."""
    return await asyncio.to_thread(quality.acknowledge, user, review_id)
