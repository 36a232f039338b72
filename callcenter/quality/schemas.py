"""Request and response bodies of ``/api/v1/quality``. Types and sizes only: what a form or
a set of scores must satisfy is checked by the service, with reasons in Chinese."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from callcenter.edge import DB_INT_MAX
from callcenter.quality.services import FormView, ReviewView

Score = Annotated[int, Field(ge=-DB_INT_MAX, le=DB_INT_MAX)]
Scores = Annotated[dict[Annotated[str, Field(max_length=32)], Score], Field(max_length=40)]
Comment = Annotated[str, Field(max_length=4000)]


class CriterionIn(BaseModel):
    key: Annotated[str, Field(max_length=64)]
    title: Annotated[str, Field(max_length=64)]
    max_score: Score
    weight: Annotated[float, Field(allow_inf_nan=False)]


class FormIn(BaseModel):
    title: Annotated[str, Field(max_length=128)]
    criteria: Annotated[list[CriterionIn], Field(max_length=40)]


class CriterionOut(BaseModel):
    key: str
    title: str
    max_score: int
    weight: float


class FormOut(BaseModel):
    id: int
    name: str
    version: int
    title: str
    criteria: list[CriterionOut]
    created_at: datetime
    created_by: str
    latest: bool  # the version new reviews are scored on

    @classmethod
    def of(cls, form: FormView) -> FormOut:
        return cls(id=form.id, name=form.name, version=form.version, title=form.title,
                   criteria=[CriterionOut(**c.as_dict()) for c in form.criteria],
                   created_at=form.created_at, created_by=form.created_by,
                   latest=form.latest)


class ReviewIn(BaseModel):
    contact_id: Annotated[int, Field(ge=1, le=DB_INT_MAX)]
    agent: Annotated[str, Field(max_length=64)]  # the leg reviewed (its agent's username)
    form_id: Annotated[int, Field(ge=1, le=DB_INT_MAX)]
    scores: Scores  # criterion key -> score
    comment: Comment = ""


class ReviewUpdate(BaseModel):
    scores: Scores
    comment: Comment = ""


class ScoredCriterionOut(CriterionOut):
    score: int


class ReviewOut(BaseModel):
    id: int
    form_id: int
    form_name: str
    form_version: int
    form_title: str
    contact_id: int
    linkedid: str
    agent: str
    agent_name: str
    reviewer: str
    reviewer_name: str
    criteria: list[ScoredCriterionOut]
    total: float  # weighted, out of 100
    comment: str
    call_at: datetime
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None

    @classmethod
    def of(cls, view: ReviewView) -> ReviewOut:
        return cls(**{**view.__dict__, "criteria": [
            ScoredCriterionOut(**c.__dict__) for c in view.criteria]})
