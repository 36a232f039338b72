"""Knowledge operations: the FAQ base kept in the database (docs/kb.md, "Knowledge
operations").

* The live entries (``kb_entries``) are what the running knowledge base serves: it reads them
  through :meth:`KbStore.live_items` (``KnowledgeBase(source=...)``). They are seeded once from
  the repository YAML (``knowledge_base/data``) when the table is empty.
* An editor's change is a draft (``kb_drafts``) until a second person (``reviewer``,
  ``supervisor`` or ``admin``, never the draft's author) publishes it; every published version
  is kept (``kb_versions``) and can be restored (a new published version).
* The YAML stays the seed and the export format: ``hotline kb export`` writes every live entry
  back, an entry unchanged since the seed exactly as the seed file had it (comments included).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from callcenter.auth.models import Role
from callcenter.auth.services import AuthUser, audit
from callcenter.db import Database
from callcenter.errors import DomainError, NotFound
from callcenter.kb.models import DraftKind, DraftStatus, KbDraft, KbEntry, KbSeedFile, KbVersion
from callcenter.settings import Settings
from ivr.clock import Clock, local_date
from knowledge_base.loader import (
    OPTIONAL_FIELDS,
    REQUIRED_FIELDS,
    check_entries,
    check_entry,
    data_files,
)
from knowledge_base.models import Severity, ValidationIssue

log = logging.getLogger(__name__)

KB_WRITERS = frozenset({Role.EDITOR, Role.REVIEWER, Role.SUPERVISOR, Role.ADMIN})
KB_PUBLISHERS = frozenset({Role.REVIEWER, Role.SUPERVISOR, Role.ADMIN})
FIELDS = (*REQUIRED_FIELDS, *OPTIONAL_FIELDS)
LIST_FIELDS = ("similar", "keywords", "key_facts")
DEFAULT_FILE = "frequent_questions.yaml"
SEED_ACTOR = "seed"
_ENTRY_START = re.compile(r"^- ", re.MULTILINE)
_FILE_NAME = re.compile(r"^[a-z0-9_]+\.yaml$")

FIELD_TITLES = {"id": "编号", "category": "类别", "question": "标准问题", "similar": "相似问法",
                "keywords": "关键词", "answer": "答案", "effective_from": "生效日期",
                "effective_to": "失效日期", "source": "政策依据", "key_facts": "关键事实"}
# the validator's messages (English, for developers) as the console shows them
_MESSAGES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^is empty$"), "不能为空"),
    (re.compile(r"^missing field$"), "缺少该项"),
    (re.compile(r"^unknown field$"), "不认识的字段"),
    (re.compile(r"^must be a string"), "应为文字"),
    (re.compile(r"^must be a list"), "应为列表"),
    (re.compile(r"^item (\d+) is empty$"), r"第\1项为空"),
    (re.compile(r"^item (\d+) must be a string$"), r"第\1项应为文字"),
    (re.compile(r"^key fact '(.*)' is not in the answer$"), r"关键事实“\1”没有出现在答案中"),
    (re.compile(r"^missing key fact '(.*)' of the spec$"), r"答案缺少规范要求的关键事实“\1”"),
    (re.compile(r"^must be an ISO date"), "日期格式应为 YYYY-MM-DD"),
    (re.compile(r"^ends before it starts"), "失效日期早于生效日期"),
    (re.compile(r"^duplicate id"), "编号已被其他条目使用"),
)


def message_zh(message: str) -> str:
    """The validator's message in Chinese for the console (the English one when unknown)."""
    for pattern, text in _MESSAGES:
        if pattern.search(message):
            return pattern.sub(text, message) if "\\" in text else text
    return message


class KbInvalid(DomainError, ValueError):
    """The entry does not pass the validator: 422 with one reason per field."""

    default_status = 422

    @classmethod
    def of(cls, issues: Sequence[ValidationIssue]) -> KbInvalid:
        errors = [{"loc": ["body", "fields", issue.field], "msg": message_zh(issue.message),
                   "type": "value_error"} for issue in issues]
        first = issues[0]
        detail = f"{FIELD_TITLES.get(first.field, first.field)}：{message_zh(first.message)}"
        return cls(detail, errors=errors)


class KbForbidden(DomainError, PermissionError):
    default_status = 403


# -- the YAML seed -------------------------------------------------------------------------


def split_seed(text: str) -> tuple[str, list[str]]:
    """A data file's text as its header and one text block per entry (the comments and blank
    lines after an entry belong to its block)."""
    starts = [m.start() for m in _ENTRY_START.finditer(text)]
    if not starts:
        return text, []
    bounds = [*starts, len(text)]
    return text[:starts[0]], [text[a:b] for a, b in itertools.pairwise(bounds)]


def plain_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Fields as stored in the database: JSON values, dates as ISO strings."""
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        out[str(name)] = value
    return out


def yaml_block(fields: Mapping[str, Any]) -> str:
    """One entry as a data file writes it (a changed entry's export)."""
    out: dict[str, Any] = {}
    for name in FIELDS:
        if name not in fields:
            continue
        value = fields[name]
        if name in ("effective_from", "effective_to") and isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = date.fromisoformat(value)
        out[name] = value
    text = yaml.safe_dump([out], allow_unicode=True, sort_keys=False, width=100_000,
                          default_flow_style=None)
    return text + "\n"


# -- views ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    """What a publication changed: the texts spoken before and after (answer, question)."""

    entry_id: str
    version: int
    texts: tuple[str, ...]
    retired: bool


def _entry_texts(fields: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(fields[name]).strip() for name in ("answer", "question")
                 if isinstance(fields.get(name), str) and fields[name].strip())


class KbStore:
    def __init__(self, db: Database, clock: Clock, *, spec_path: Path | None = None,
                 today: Callable[[], date] | None = None) -> None:
        """``today``: the hotline's local date (entries' effective dates); default the date of
        ``clock``'s moment."""
        self.db = db
        self.clock = clock
        self.spec_path = spec_path
        self.today: Callable[[], date] = today or (lambda: clock().date())

    # ----------------------------------------------------------------- seed, import, export
    def available(self) -> bool:
        """True when the schema has the knowledge-base tables (migration 0012)."""
        try:
            with self.db.session() as session:
                session.execute(select(KbEntry.id).limit(1))
            return True
        except (OperationalError, ProgrammingError):
            return False

    def count(self) -> int:
        with self.db.session() as session:
            return int(session.scalar(select(func.count()).select_from(KbEntry)) or 0)

    def seed(self, data_dir: Path) -> int:
        """Seed an empty store from the data files; the number of entries seeded (0 when the
        store had entries, or another process seeded it at the same moment)."""
        if self.count():
            return 0
        try:
            return self._write_files(data_dir, actor=SEED_ACTOR, note="seed", fresh=True)
        except IntegrityError:
            return 0  # another process seeded it first

    def import_dir(self, data_dir: Path, actor: str, *, retire_missing: bool = False
                   ) -> int:
        """Import data files: each entry that differs becomes a new published version (its
        seed text the file's); with ``retire_missing`` the entries the files lack are
        retired. The number of entries changed."""
        return len(self.import_files(data_dir, actor, retire_missing=retire_missing))

    def import_files(self, data_dir: Path, actor: str, *, retire_missing: bool = False
                     ) -> list[Published]:
        """:meth:`import_dir`, saying what changed: one :class:`Published` per entry (the
        running processes reload on them, callcenter/kb/notifier.py)."""
        changes: list[Published] = []
        self._write_files(data_dir, actor=actor, note="import", fresh=False,
                          retire_missing=retire_missing, changes=changes)
        return changes

    def _read_files(self, data_dir: Path) -> tuple[dict[str, str], list[tuple[str, str, dict[
            str, Any]]]]:
        files = [data_dir] if data_dir.is_file() else data_files(data_dir)
        headers: dict[str, str] = {}
        blocks: list[tuple[str, str, dict[str, Any]]] = []
        issues: list[ValidationIssue] = []
        for path in files:
            header, segments = split_seed(path.read_text(encoding="utf-8"))
            headers[path.name] = header
            for segment in segments:
                raw = yaml.load(segment, Loader=yaml.CSafeLoader)
                if not isinstance(raw, list) or len(raw) != 1 or not isinstance(raw[0], dict):
                    issues.append(ValidationIssue(path.name, "-", "-",
                                                  "an entry block must hold one mapping"))
                    continue
                blocks.append((path.name, segment, plain_fields(raw[0])))
        result = check_entries([(file, fields) for file, _, fields in blocks], self.spec_path,
                               self.today())
        errors = issues + result.errors
        if errors:
            raise KbInvalid.of(errors)
        return headers, blocks

    def _write_files(self, data_dir: Path, *, actor: str, note: str, fresh: bool,
                     retire_missing: bool = False, changes: list[Published] | None = None
                     ) -> int:
        headers, blocks = self._read_files(data_dir)
        now = self.clock()
        changed = 0
        with self.db.transaction() as session:
            for file, header in headers.items():
                row = session.get(KbSeedFile, file)
                if row is None:
                    session.add(KbSeedFile(file=file, header=header))
                else:
                    row.header = header
            positions: dict[str, int] = {}
            seen: set[str] = set()
            for file, text, fields in blocks:
                positions[file] = positions.get(file, 0) + 1
                entry_id = str(fields["id"])
                seen.add(entry_id)
                entry = None if fresh else session.get(KbEntry, entry_id)
                if entry is None:
                    session.add(KbEntry(id=entry_id, file=file, position=positions[file],
                                        fields=fields, version=1, retired=False,
                                        seed_fields=fields, seed_text=text, updated_at=now))
                    session.add(KbVersion(entry_id=entry_id, version=1, fields=fields,
                                          retired=False, author=actor, published_by=actor,
                                          published_at=now, note=note))
                    changed += 1
                    if changes is not None:
                        changes.append(Published(entry_id, 1, _entry_texts(fields), False))
                    continue
                entry.file, entry.position = file, positions[file]
                entry.seed_fields, entry.seed_text = fields, text
                if entry.fields != fields or entry.retired:
                    texts = tuple(dict.fromkeys((*_entry_texts(fields),
                                                 *_entry_texts(entry.fields))))
                    self._new_version(session, entry, fields, False, actor, actor, note, now)
                    changed += 1
                    if changes is not None:
                        changes.append(Published(entry_id, entry.version, texts, False))
            if retire_missing:
                for entry in session.scalars(select(KbEntry).where(KbEntry.retired.is_(False))):
                    if entry.id not in seen:
                        self._new_version(session, entry, entry.fields, True, actor, actor,
                                          note, now)
                        changed += 1
                        if changes is not None:
                            changes.append(Published(entry.id, entry.version,
                                                     _entry_texts(entry.fields), True))
            if not fresh:
                audit(session, actor, "kb.import", str(data_dir.name), at=now, changed=changed)
        return changed

    def export_dir(self, target: Path) -> list[Path]:
        """Write the live entries as data files into ``target`` (one file per seed file);
        an entry unchanged since its seed is written exactly as the seed had it."""
        target.mkdir(parents=True, exist_ok=True)
        with self.db.session() as session:
            headers = {f.file: f.header for f in session.scalars(select(KbSeedFile))}
            entries = list(session.scalars(
                select(KbEntry).where(KbEntry.retired.is_(False))
                .order_by(KbEntry.file, KbEntry.position, KbEntry.id)))
        texts: dict[str, list[str]] = {file: [] for file in headers}
        for entry in entries:
            block = (entry.seed_text if entry.seed_text is not None
                     and entry.seed_fields == entry.fields else yaml_block(entry.fields))
            texts.setdefault(entry.file, []).append(block)
        written: list[Path] = []
        for file, blocks in sorted(texts.items()):
            path = target / file
            body = headers.get(file, "") + "".join(blocks)
            if blocks and not body.endswith("\n"):
                body += "\n"
            path.write_text(body, encoding="utf-8")
            written.append(path)
        return written

    # ----------------------------------------------------------------- the live base
    def live_items(self) -> list[tuple[str, dict[str, Any]]]:
        """The entries to serve, in file order: the knowledge base's entry source."""
        with self.db.session() as session:
            rows = session.execute(
                select(KbEntry.file, KbEntry.fields).where(KbEntry.retired.is_(False))
                .order_by(KbEntry.file, KbEntry.position, KbEntry.id)).all()
        return [(file, dict(fields)) for file, fields in rows]

    def search(self, query: str = "", *, include_retired: bool = False,
               limit: int = 50) -> list[KbEntry]:
        """Entries whose id, question, similar questions, keywords or answer contain every
        word of ``query`` (all entries when empty), in file order."""
        words = [w.lower() for w in query.split() if w]
        with self.db.session() as session:
            stmt = select(KbEntry).order_by(KbEntry.file, KbEntry.position, KbEntry.id)
            if not include_retired:
                stmt = stmt.where(KbEntry.retired.is_(False))
            found: list[KbEntry] = []
            for entry in session.scalars(stmt):
                haystack = " ".join(str(v) for v in (
                    entry.id, entry.fields.get("question"), entry.fields.get("answer"),
                    *(entry.fields.get("similar") or ()),
                    *(entry.fields.get("keywords") or ()),
                    entry.fields.get("category"))).lower()
                if all(w in haystack for w in words):
                    found.append(entry)
                    if len(found) >= limit:
                        break
            return found

    def entry(self, entry_id: str) -> KbEntry:
        with self.db.session() as session:
            return _entry(session, entry_id)

    def versions(self, entry_id: str) -> list[KbVersion]:
        self.entry(entry_id)
        with self.db.session() as session:
            return list(session.scalars(select(KbVersion).where(KbVersion.entry_id == entry_id)
                                        .order_by(KbVersion.version.desc())))

    # ----------------------------------------------------------------- drafts
    def drafts(self, status: DraftStatus | None = DraftStatus.OPEN, limit: int = 200
               ) -> list[KbDraft]:
        with self.db.session() as session:
            stmt = select(KbDraft).order_by(KbDraft.id.desc()).limit(limit)
            if status is not None:
                stmt = stmt.where(KbDraft.status == status.value)
            return list(session.scalars(stmt))

    def draft(self, draft_id: int) -> KbDraft:
        with self.db.session() as session:
            return _draft(session, draft_id)

    def _clean(self, entry_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The fields of a draft, checked on their own (422 per field)."""
        clean: dict[str, Any] = {"id": entry_id}
        for name, value in fields.items():
            if name == "id":
                continue
            if name not in FIELDS:
                raise KbInvalid.of([ValidationIssue("-", entry_id, name, "unknown field")])
            if name in LIST_FIELDS and isinstance(value, list):
                value = [item.strip() if isinstance(item, str) else item for item in value]
            elif isinstance(value, str):
                value = value.strip()
            if name == "effective_to" and value == "":
                value = None
            clean[name] = value
        if not clean.get("key_facts"):
            clean.pop("key_facts", None)
        ordered = {name: clean[name] for name in FIELDS if name in clean}
        errors = [i for i in check_entry(ordered) if i.severity is Severity.ERROR]
        if errors:
            raise KbInvalid.of(errors)
        return ordered

    def save_draft(self, user: AuthUser, entry_id: str, kind: DraftKind,
                   fields: Mapping[str, Any] | None = None, *, file: str | None = None,
                   draft_id: int | None = None) -> KbDraft:
        """Create (or, by its author, update) a draft; raises 422 with the fields' reasons."""
        self._may_write(user)
        now = self.clock()
        with self.db.transaction() as session:
            entry = session.get(KbEntry, entry_id)
            if kind is DraftKind.NEW:
                if entry is not None:
                    raise DomainError(f"编号 {entry_id} 已存在", 409)
                clean = self._clean(entry_id, fields or {})
                target_file = file or self._file_for(session, str(clean.get("category", "")))
                if not _FILE_NAME.fullmatch(target_file):
                    raise KbInvalid("文件名应为小写字母、数字和下划线，以 .yaml 结尾", errors=[
                        {"loc": ["body", "file"], "msg": "文件名无效", "type": "value_error"}])
            else:
                entry = _entry(session, entry_id)
                clean = (dict(entry.fields) if kind is DraftKind.RETIRE
                         else self._clean(entry_id, fields or {}))
                target_file = entry.file
            if draft_id is not None:
                draft = _draft(session, draft_id)
                if draft.author != user.username:
                    raise KbForbidden("只能修改自己的草稿")
                if draft.status != DraftStatus.OPEN:
                    raise DomainError("草稿已发布或已放弃，不能再修改", 409)
                draft.fields, draft.kind, draft.updated_at = clean, kind.value, now
            else:
                draft = KbDraft(entry_id=entry_id, kind=kind.value, fields=clean,
                                file=target_file,
                                base_version=entry.version if entry is not None else None,
                                author=user.username, created_at=now, updated_at=now,
                                status=DraftStatus.OPEN.value, note="")
                session.add(draft)
            session.flush()
            audit(session, user.username, "kb.draft", entry_id, at=now, draft=draft.id,
                  kind=kind.value)
            return draft

    def draft_from_questions(self, user: AuthUser, questions: Sequence[str], *,
                             entry_id: str | None = None, new_id: str | None = None
                             ) -> KbDraft:
        """One action of the unanswered report: the questions as similar questions in a
        draft of ``entry_id``, or (without it) a new entry's draft whose standard question is
        the first, the others its similar questions. A new entry's draft still lacks its
        answer, category and source: the editor writes them (saving checks every field;
        publishing refuses it until they are there)."""
        self._may_write(user)
        texts = list(dict.fromkeys(q.strip() for q in questions if q.strip()))
        if not texts:
            raise KbInvalid("没有可用的问题", errors=[
                {"loc": ["body", "questions"], "msg": "问题不能为空", "type": "value_error"}])
        if entry_id is not None:
            fields = dict(self.entry(entry_id).fields)
            known = {fields.get("question"), *(fields.get("similar") or ())}
            fields["similar"] = [*(fields.get("similar") or ()),
                                 *(t for t in texts if t not in known)]
            return self.save_draft(user, entry_id, DraftKind.EDIT, fields)
        digest = hashlib.sha256(texts[0].encode()).hexdigest()[:8]
        target = new_id or f"new.q{digest}"
        now = self.clock()
        fields = {"id": target, "category": "", "question": texts[0], "similar": texts[1:],
                  "keywords": [], "answer": "", "effective_from": self.today().isoformat(),
                  "effective_to": None, "source": ""}
        with self.db.transaction() as session:
            if session.get(KbEntry, target) is not None:
                raise DomainError(f"编号 {target} 已存在", 409)
            draft = KbDraft(entry_id=target, kind=DraftKind.NEW.value, fields=fields,
                            file=DEFAULT_FILE, base_version=None, author=user.username,
                            created_at=now, updated_at=now, status=DraftStatus.OPEN.value,
                            note="unanswered report")
            session.add(draft)
            session.flush()
            audit(session, user.username, "kb.draft", target, at=now, draft=draft.id,
                  kind="new", questions=len(texts))
            return draft

    def discard(self, draft_id: int, user: AuthUser) -> KbDraft:
        self._may_write(user)
        now = self.clock()
        with self.db.transaction() as session:
            draft = self._open_draft(session, draft_id)
            if draft.author != user.username and user.role not in KB_PUBLISHERS:
                raise KbForbidden("只能放弃自己的草稿")
            draft.status, draft.decided_by, draft.decided_at = (
                DraftStatus.DISCARDED.value, user.username, now)
            audit(session, user.username, "kb.discard", draft.entry_id, at=now, draft=draft_id)
            return draft

    def publish(self, draft_id: int, user: AuthUser) -> Published:
        """Publish a draft as the entry's next version: only a reviewer, supervisor or admin
        who did not write it. The whole base is validated with it first (422)."""
        if user.role not in KB_PUBLISHERS:
            raise KbForbidden("权限不足：发布需要审核员或班长")
        now = self.clock()
        with self.db.transaction() as session:
            draft = self._open_draft(session, draft_id)
            if draft.author == user.username:
                raise KbForbidden("不能发布自己写的草稿：需要另一人审核")
            kind = DraftKind(draft.kind)
            entry = session.get(KbEntry, draft.entry_id)
            retired = kind is DraftKind.RETIRE
            if not retired:
                self._check_in_base(session, draft.entry_id, draft.file, draft.fields)
            before = _entry_texts(entry.fields) if entry is not None else ()
            if entry is None:
                if kind is not DraftKind.NEW:
                    raise NotFound(f"知识库条目 {draft.entry_id} 不存在")
                position = int(session.scalar(select(func.max(KbEntry.position))
                                              .where(KbEntry.file == draft.file)) or 0) + 1
                entry = KbEntry(id=draft.entry_id, file=draft.file, position=position,
                                fields=draft.fields, version=0, retired=False,
                                seed_fields=None, seed_text=None, updated_at=now)
                session.add(entry)
            elif kind is DraftKind.NEW:
                raise DomainError(f"编号 {draft.entry_id} 已存在", 409)
            version = self._new_version(session, entry, draft.fields, retired, draft.author,
                                        user.username, f"draft {draft.id}", now)
            draft.status, draft.decided_by, draft.decided_at = (
                DraftStatus.PUBLISHED.value, user.username, now)
            audit(session, user.username, "kb.publish", draft.entry_id, at=now,
                  draft=draft.id, version=version)
            after = () if retired else _entry_texts(draft.fields)
            return Published(draft.entry_id, version, tuple(dict.fromkeys((*after, *before))),
                             retired)

    def restore(self, entry_id: str, version: int, user: AuthUser) -> Published:
        """Publish an earlier version again, as the entry's next version."""
        if user.role not in KB_PUBLISHERS:
            raise KbForbidden("权限不足：恢复版本需要审核员或班长")
        now = self.clock()
        with self.db.transaction() as session:
            entry = _entry(session, entry_id)
            old = session.scalar(select(KbVersion).where(KbVersion.entry_id == entry_id,
                                                         KbVersion.version == version))
            if old is None:
                raise NotFound(f"条目 {entry_id} 没有第 {version} 版")
            if not old.retired:
                self._check_in_base(session, entry_id, entry.file, old.fields)
            before = _entry_texts(entry.fields)
            new = self._new_version(session, entry, dict(old.fields), old.retired,
                                    old.author, user.username, f"restore {version}", now)
            audit(session, user.username, "kb.restore", entry_id, at=now, version=version,
                  new_version=new)
            after = () if old.retired else _entry_texts(old.fields)
            return Published(entry_id, new, tuple(dict.fromkeys((*after, *before))),
                             old.retired)

    # ----------------------------------------------------------------- helpers
    def _may_write(self, user: AuthUser) -> None:
        if user.role not in KB_WRITERS:
            raise KbForbidden("权限不足：需要编辑、审核员或班长")

    def _open_draft(self, session: Session, draft_id: int) -> KbDraft:
        draft = _draft(session, draft_id)
        if draft.status != DraftStatus.OPEN:
            raise DomainError("草稿已发布或已放弃", 409)
        return draft

    def _file_for(self, session: Session, category: str) -> str:
        file = session.scalar(select(KbEntry.file).where(
            KbEntry.fields["category"].as_string() == category).limit(1)) if category else None
        return file or DEFAULT_FILE

    def _check_in_base(self, session: Session, entry_id: str, file: str,
                       fields: Mapping[str, Any]) -> None:
        """The base with ``fields`` as ``entry_id``: its errors on that entry raise 422 (the
        spec's key facts, a duplicate question)."""
        rows = session.execute(select(KbEntry.id, KbEntry.file, KbEntry.fields)
                               .where(KbEntry.retired.is_(False))
                               .order_by(KbEntry.file, KbEntry.position, KbEntry.id)).all()
        items: list[tuple[str, Mapping[str, Any]]] = [
            (row_file, row_fields) for row_id, row_file, row_fields in rows
            if row_id != entry_id]
        items.append((file, fields))
        result = check_entries(items, self.spec_path, self.today())
        errors = [i for i in result.errors if i.entry_id in (entry_id, "-")]
        if errors:
            raise KbInvalid.of(errors)

    @staticmethod
    def _new_version(session: Session, entry: KbEntry, fields: Mapping[str, Any],
                     retired: bool, author: str, publisher: str, note: str,
                     now: Any) -> int:
        latest = session.scalar(select(func.max(KbVersion.version))
                                .where(KbVersion.entry_id == entry.id)) or 0
        version = int(latest) + 1
        entry.fields, entry.retired, entry.version, entry.updated_at = (
            dict(fields), retired, version, now)
        session.add(KbVersion(entry_id=entry.id, version=version, fields=dict(fields),
                              retired=retired, author=author, published_by=publisher,
                              published_at=now, note=note[:255]))
        session.flush()
        return version


def _entry(session: Session, entry_id: str) -> KbEntry:
    entry = session.get(KbEntry, entry_id)
    if entry is None:
        raise NotFound(f"知识库条目 {entry_id} 不存在")
    return entry


def _draft(session: Session, draft_id: int) -> KbDraft:
    draft = session.get(KbDraft, draft_id)
    if draft is None:
        raise NotFound(f"草稿 {draft_id} 不存在")
    return draft


def live_store(settings: Settings, db: Database, clock: Clock) -> KbStore | None:
    """The knowledge base's store in the database, seeded from ``HOTLINE_KB_DATA_DIR`` when
    empty (the first start); None, and the data files served, when the schema predates it or
    the seed files do not validate."""
    from knowledge_base import default_spec_path

    store = KbStore(db, clock, spec_path=default_spec_path(),
                    today=local_date(clock, settings.timezone))
    if not store.available():
        log.warning("no knowledge-base tables (migrate): serving the data files")
        return None
    try:
        seeded = store.seed(settings.kb_data_dir)
    except Exception:
        log.exception("the knowledge base could not be seeded from %s; serving the data files",
                      settings.kb_data_dir.name)
        return None
    if seeded:
        log.info("knowledge base seeded from the data files: %d entries", seeded)
    return store
