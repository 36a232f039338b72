"""HTTP endpoint of the FAQ search: `GET /kb/search?q=&top=` (mounted under /api/v1)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from callcenter.openapi import problems
from knowledge_base import MAX_TOP, KnowledgeBase

router = APIRouter(prefix="/kb", tags=["kb"])

MAX_QUERY_CHARS = 500


class SearchHit(BaseModel):
    id: str = Field(description="FAQ entry id")
    score: float = Field(description="Confidence in [0, 1], higher is better")
    question: str = Field(description="Standard question of the entry")


class SearchResponse(BaseModel):
    query: str
    decision: Literal["answer", "confirm", "decline"] = Field(
        description="answer: play or show the first result; confirm: ask the caller whether"
        " they mean the first result (then the second, when there is one); decline: out of"
        " scope, hand over to an agent (the same decision as the IVR's)"
    )
    results: list[SearchHit] = Field(
        description="On answer the ranked entries, the answer first; on confirm the one or two"
        " candidates in the order to offer them; on decline empty"
    )


def get_knowledge_base(request: Request) -> KnowledgeBase:
    """The application's knowledge base, set by the app factory on `app.state`."""
    kb = getattr(request.app.state, "knowledge_base", None)
    if not isinstance(kb, KnowledgeBase) or not kb.loaded:
        raise HTTPException(status_code=503, detail="知识库暂不可用，请稍后再试")
    return kb


def _invalid(field: str, message: str) -> RequestValidationError:
    """A 422 of the same shape as every other (``detail`` text and ``errors``)."""
    return RequestValidationError([{"loc": ("query", field), "msg": message,
                                    "type": "value_error"}])


@router.get("/search", response_model=SearchResponse, summary="Search the FAQ base",
            responses=problems(503))
def search(
    kb: Annotated[KnowledgeBase, Depends(get_knowledge_base)],
    q: Annotated[str, Query(description="The caller's question")] = "",
    top: Annotated[int, Query(description=f"Number of results, 1..{MAX_TOP}")] = 3,
) -> SearchResponse:
    # Sync on purpose: the search is CPU-bound, FastAPI runs it in its thread pool.
    if not q.strip():
        raise _invalid("q", "问题不能为空")
    if len(q) > MAX_QUERY_CHARS:
        raise _invalid("q", f"问题不能超过{MAX_QUERY_CHARS}个字")
    if not 1 <= top <= MAX_TOP:
        raise _invalid("top", f"top 必须在 1 到 {MAX_TOP} 之间")
    decision = kb.decide(q, top=top)
    return SearchResponse(
        query=q,
        decision=decision.kind.value,
        results=[
            SearchHit(id=r.id, score=round(r.score, 4), question=r.question)
            for r in decision.results
        ],
    )
