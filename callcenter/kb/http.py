"""HTTP endpoints of the FAQ base (mounted under /api/v1): the search, `GET /kb/search?q=&top=`,
and the knowledge operations: entries, drafts, publication, versions, the unanswered report."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from callcenter.auth.deps import require_roles
from callcenter.auth.services import AuthUser
from callcenter.edge import DB_INT_MAX
from callcenter.kb.models import DraftKind, DraftStatus
from callcenter.kb.notifier import KbReloads
from callcenter.kb.report import Group, group_questions, unanswered
from callcenter.kb.schemas import (
    DraftIn,
    DraftOut,
    DraftUpdate,
    EntryOut,
    FromGroupIn,
    GroupOut,
    PublishOut,
    ReportOut,
    VersionOut,
)
from callcenter.kb.services import KB_WRITERS, KbStore, Published
from callcenter.openapi import problems
from knowledge_base import MAX_TOP, KnowledgeBase

DbId = Annotated[int, Path(ge=1, le=DB_INT_MAX)]  # a draft's id, a version's number

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


# -- knowledge operations (docs/kb.md, "Knowledge operations") ------------------------------

KbWriter = Annotated[AuthUser, Depends(require_roles(*KB_WRITERS))]


def get_kb_store(request: Request) -> KbStore:
    store = getattr(request.app.state, "kb_store", None)
    if not isinstance(store, KbStore):
        raise HTTPException(status_code=503, detail="知识库未存入数据库（未启用或未迁移）")
    return store


def get_kb_reloads(request: Request) -> KbReloads:
    reloads = getattr(request.app.state, "kb_reloads", None)
    if not isinstance(reloads, KbReloads):
        reloads = KbReloads(getattr(request.app.state, "knowledge_base", None))
        request.app.state.kb_reloads = reloads
    return reloads


StoreDep = Annotated[KbStore, Depends(get_kb_store)]
ReloadsDep = Annotated[KbReloads, Depends(get_kb_reloads)]


@router.get("/entries", response_model=list[EntryOut], summary="Search the FAQ entries",
            responses=problems(503))
async def list_entries(_user: KbWriter, store: StoreDep,
                       q: Annotated[str, Query(max_length=200)] = "",
                       retired: bool = False,
                       limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[EntryOut]:
    rows = await asyncio.to_thread(store.search, q, include_retired=retired, limit=limit)
    return [EntryOut.of(r) for r in rows]


@router.get("/entries/{entry_id}", response_model=EntryOut, summary="One FAQ entry",
            responses=problems(404, 503))
async def get_entry(entry_id: str, _user: KbWriter, store: StoreDep) -> EntryOut:
    return EntryOut.of(await asyncio.to_thread(store.entry, entry_id))


@router.get("/entries/{entry_id}/versions", response_model=list[VersionOut],
            summary="Every published version of an entry, newest first",
            responses=problems(404, 503))
async def entry_versions(entry_id: str, _user: KbWriter, store: StoreDep) -> list[VersionOut]:
    return [VersionOut.of(v) for v in await asyncio.to_thread(store.versions, entry_id)]


async def _served(reloads: KbReloads, change: Published) -> PublishOut:
    report = await reloads.published(change)
    return PublishOut(entry_id=change.entry_id, version=change.version, retired=change.retired,
                      reloaded=report is not None,
                      reload_s=report.reload_s if report else None,
                      entries=report.entries if report else None,
                      rendered=report.rendered if report else None)


@router.post("/entries/{entry_id}/versions/{version}/restore", response_model=PublishOut,
             summary="Publish an earlier version again (a new version; reviewer, supervisor)",
             responses=problems(403, 404, 422, 503))
async def restore_version(entry_id: str, version: DbId, user: KbWriter, store: StoreDep,
                          reloads: ReloadsDep) -> PublishOut:
    change = await asyncio.to_thread(store.restore, entry_id, version, user)
    return await _served(reloads, change)


@router.get("/drafts", response_model=list[DraftOut], summary="Drafts (open by default)",
            responses=problems(503))
async def list_drafts(_user: KbWriter, store: StoreDep,
                      status: Literal["open", "published", "discarded"] | None = "open"
                      ) -> list[DraftOut]:
    rows = await asyncio.to_thread(store.drafts, DraftStatus(status) if status else None)
    return [DraftOut.of(r) for r in rows]


@router.post("/drafts", response_model=DraftOut, status_code=201,
             summary="Save an edit, a new entry or a retirement as a draft",
             responses=problems(403, 404, 409, 422, 503))
async def create_draft(body: DraftIn, user: KbWriter, store: StoreDep) -> DraftOut:
    draft = await asyncio.to_thread(store.save_draft, user, body.entry_id,
                                    DraftKind(body.kind), body.fields, file=body.file)
    return DraftOut.of(draft)


@router.put("/drafts/{draft_id}", response_model=DraftOut,
            summary="Change one's own open draft", responses=problems(403, 404, 409, 422, 503))
async def update_draft(draft_id: DbId, body: DraftUpdate, user: KbWriter,
                       store: StoreDep) -> DraftOut:
    current = await asyncio.to_thread(store.draft, draft_id)
    draft = await asyncio.to_thread(
        store.save_draft, user, current.entry_id,
        DraftKind.NEW if current.kind == DraftKind.NEW else DraftKind.EDIT, body.fields,
        file=current.file, draft_id=draft_id)
    return DraftOut.of(draft)


@router.post("/drafts/{draft_id}/discard", response_model=DraftOut,
             summary="Discard a draft (its author, or a reviewer)",
             responses=problems(403, 404, 409, 503))
async def discard_draft(draft_id: DbId, user: KbWriter, store: StoreDep) -> DraftOut:
    return DraftOut.of(await asyncio.to_thread(store.discard, draft_id, user))


@router.post("/drafts/{draft_id}/publish", response_model=PublishOut,
             summary="Publish a draft (a reviewer or supervisor who did not write it); every"
             " process serves it on its next question",
             responses=problems(403, 404, 409, 422, 503))
async def publish_draft(draft_id: DbId, user: KbWriter, store: StoreDep,
                        reloads: ReloadsDep) -> PublishOut:
    change = await asyncio.to_thread(store.publish, draft_id, user)
    return await _served(reloads, change)


@router.get("/unanswered", response_model=ReportOut,
            summary="Questions declined or offered for confirmation, grouped by meaning",
            responses=problems(503))
async def unanswered_report(request: Request, _user: KbWriter, store: StoreDep,
                            days: Annotated[int, Query(ge=1, le=366)] = 30,
                            threshold: Annotated[float | None, Query(gt=0, le=1)] = None,
                            limit: Annotated[int, Query(ge=1, le=200)] = 50) -> ReportOut:
    until = request.app.state.clock()
    since = until - timedelta(days=days)
    kb = getattr(request.app.state, "knowledge_base", None)
    embedder = kb.embedder if isinstance(kb, KnowledgeBase) and kb.loaded else None

    def build() -> list[Group]:
        asked = unanswered(store.db, since, until)
        return group_questions(asked, embedder.encode if embedder is not None else None,
                               threshold)

    groups = await asyncio.to_thread(build)
    return ReportOut(since=since, until=until, questions=sum(g.count for g in groups),
                     groups=[GroupOut(count=g.count,
                                      examples=[t for t, _ in g.texts.most_common(10)],
                                      channels=dict(g.channels), decisions=dict(g.decisions),
                                      candidates=[c for c, _ in g.candidates.most_common(3)],
                                      last_at=g.last_at or until)
                             for g in groups[:limit]])


@router.post("/unanswered/draft", response_model=DraftOut, status_code=201,
             summary="One group of the report as a new entry's draft, or as similar questions"
             " in a draft of an existing entry", responses=problems(403, 404, 409, 422, 503))
async def draft_from_group(body: FromGroupIn, user: KbWriter, store: StoreDep) -> DraftOut:
    draft = await asyncio.to_thread(store.draft_from_questions, user, body.questions,
                                    entry_id=body.entry_id, new_id=body.new_id)
    return DraftOut.of(draft)
