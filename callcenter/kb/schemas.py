"""Request and response bodies of the knowledge operations (``/kb/entries``, ``/kb/drafts``,
``/kb/unanswered``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from callcenter.kb.models import KbDraft, KbEntry, KbVersion


class EntryOut(BaseModel):
    id: str
    file: str = Field(description="The data file it is exported to")
    version: int = Field(description="The version served now")
    retired: bool
    fields: dict[str, Any] = Field(description="id, category, question, similar, keywords,"
                                   " answer, effective_from, effective_to, source, key_facts")
    updated_at: datetime

    @classmethod
    def of(cls, row: KbEntry) -> EntryOut:
        return cls(id=row.id, file=row.file, version=row.version, retired=row.retired,
                   fields=dict(row.fields), updated_at=row.updated_at)


class VersionOut(BaseModel):
    entry_id: str
    version: int
    retired: bool
    fields: dict[str, Any]
    author: str
    published_by: str
    published_at: datetime
    note: str

    @classmethod
    def of(cls, row: KbVersion) -> VersionOut:
        return cls(entry_id=row.entry_id, version=row.version, retired=row.retired,
                   fields=dict(row.fields), author=row.author, published_by=row.published_by,
                   published_at=row.published_at, note=row.note)


class DraftOut(BaseModel):
    id: int
    entry_id: str
    kind: Literal["edit", "new", "retire"]
    fields: dict[str, Any]
    file: str
    base_version: int | None
    author: str
    created_at: datetime
    updated_at: datetime
    status: Literal["open", "published", "discarded"]
    decided_by: str | None
    decided_at: datetime | None

    @classmethod
    def of(cls, row: KbDraft) -> DraftOut:
        return cls(id=row.id, entry_id=row.entry_id, kind=row.kind,  # type: ignore[arg-type]
                   fields=dict(row.fields), file=row.file, base_version=row.base_version,
                   author=row.author, created_at=row.created_at, updated_at=row.updated_at,
                   status=row.status, decided_by=row.decided_by,  # type: ignore[arg-type]
                   decided_at=row.decided_at)


ENTRY_ID_PATTERN = r"^[a-z0-9_]+(\.[a-z0-9_]+)*$"


class DraftIn(BaseModel):
    entry_id: str = Field(min_length=1, max_length=128, pattern=ENTRY_ID_PATTERN,
                          description="The entry's id (a new one for kind=new)")
    kind: Literal["edit", "new", "retire"] = "edit"
    fields: dict[str, Any] = Field(default_factory=dict,
                                   description="The entry's fields (none for retire)")
    file: str | None = Field(default=None, max_length=128,
                             description="kind=new: the data file (default: by category)")


class DraftUpdate(BaseModel):
    fields: dict[str, Any]


class PublishOut(BaseModel):
    entry_id: str
    version: int
    retired: bool
    reloaded: bool = Field(description="This process serves the new version already (single"
                           " process); false: the other processes reload on the bus message")
    reload_s: float | None = Field(description="How long this process's reload took")
    entries: int | None = Field(description="Entries served after the reload")
    rendered: int | None = Field(description="Answer audio files rendered")


class GroupOut(BaseModel):
    count: int = Field(description="Questions in the group")
    examples: list[str] = Field(description="Distinct questions, most asked first")
    channels: dict[str, int] = Field(description="Questions by channel: phone, sms, web")
    decisions: dict[str, int] = Field(description="Questions by decision: decline, confirm")
    candidates: list[str] = Field(description="Entries the base offered (confirm), most"
                                  " offered first: where a paraphrase may belong")
    last_at: datetime


class ReportOut(BaseModel):
    since: datetime
    until: datetime
    questions: int
    groups: list[GroupOut]


class FromGroupIn(BaseModel):
    questions: list[str] = Field(min_length=1, max_length=200,
                                 description="The group's questions (the first: the standard"
                                 " question of a new entry)")
    entry_id: str | None = Field(default=None, max_length=128, pattern=ENTRY_ID_PATTERN,
                                 description="Add them as similar questions of this entry"
                                 " (a draft of it); none: a new entry's draft")
    new_id: str | None = Field(default=None, max_length=128, pattern=ENTRY_ID_PATTERN,
                               description="The new entry's id (default: generated)")
