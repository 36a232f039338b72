"""Request bodies of ``/api/v1/quality``: types and sizes only; what a form or a set of
scores must satisfy is checked by the service, with reasons in Chinese. The answers are the
service's own records (:class:`~callcenter.quality.services.FormView`,
:class:`~callcenter.quality.services.ReviewView`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from callcenter.edge import DB_INT_MAX

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


class ReviewIn(BaseModel):
    contact_id: Annotated[int, Field(ge=1, le=DB_INT_MAX)]
    agent: Annotated[str, Field(max_length=64)]  # the leg reviewed (its agent's username)
    form_id: Annotated[int, Field(ge=1, le=DB_INT_MAX)]
    scores: Scores  # criterion key -> score
    comment: Comment = ""


class ReviewUpdate(BaseModel):
    scores: Scores
    comment: Comment = ""
