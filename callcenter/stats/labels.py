"""Words for the ids the reports count: a menu node's Chinese title (``cat_iit`` -> 个人所得税咨询),
an FAQ entry's question (``filing.first_violation_no_penalty`` -> 首次逾期申报可以不罚款吗…) and a
queue's title (``consult`` -> 综合咨询). The dashboard, the wallboard and the exports show the
words and keep the id beside them (a column, a tooltip); an id without words stays the id.

The words come from what the hotline runs on: the menu file (read again when it changes), the
live knowledge base in the database (:class:`LiveFaqQuestions`: an entry added or edited in
the console shows its question at once; retired entries keep theirs for the history; the data
files' questions while the database has no knowledge-base tables or entries), and the queue
table (every configured queue, so the wallboard lists the ones nobody waits in)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

import yaml
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError, ProgrammingError

from callcenter.db import Database
from callcenter.kb.models import KbEntry
from ivr.menu.loader import MenuError, load_menu

log = logging.getLogger(__name__)

T = TypeVar("T")


class Labels(Protocol):
    """The words of the reports' ids (a missing id: the report shows the id itself)."""

    def nodes(self) -> Mapping[str, str]: ...

    def faqs(self) -> Mapping[str, str]: ...

    def queues(self) -> Mapping[str, str]: ...


class NoLabels:
    """Ids only (a service built without the hotline's files)."""

    def nodes(self) -> Mapping[str, str]:
        return {}

    def faqs(self) -> Mapping[str, str]:
        return {}

    def queues(self) -> Mapping[str, str]:
        return {}


@dataclass(frozen=True)
class FaqEntry:
    """An entry of the knowledge base as its data file has it (no search engine loaded)."""

    id: str
    question: str
    category: str


def faq_entries(data_dir: Path) -> list[FaqEntry]:
    """The entries of the data files in ``data_dir`` (id, question, category), file by file."""
    entries: list[FaqEntry] = []
    for path in sorted(data_dir.glob("*.yaml")):
        for item in yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader) or []:
            if isinstance(item, dict) and "id" in item:
                entries.append(FaqEntry(str(item["id"]), str(item.get("question") or ""),
                                        str(item.get("category") or "")))
    return entries


class _FileCache(Generic[T]):
    """A value read from files, read again when one of them changes (mtime and size)."""

    def __init__(self, files: Callable[[], list[Path]], read: Callable[[], T], empty: T) -> None:
        self._files = files
        self._read = read
        self._empty = empty
        self._stamp: tuple[tuple[str, int, int], ...] | None = None
        self._value = empty
        self._lock = threading.Lock()

    def get(self) -> T:
        try:
            stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size)
                          for p in self._files())
        except OSError as exc:
            log.warning("report labels: %s", exc)
            return self._empty
        with self._lock:
            if stamp != self._stamp:
                try:
                    self._value = self._read()
                except (OSError, yaml.YAMLError, MenuError, ValueError) as exc:
                    log.warning("report labels could not be read (ids shown): %s", exc)
                    self._value = self._empty
                self._stamp = stamp
            return self._value


class QueueTitles(Protocol):
    def titles(self) -> Mapping[str, str]: ...


class FaqQuestions(Protocol):
    def questions(self) -> Mapping[str, str]: ...


class LiveFaqQuestions:
    """The questions of the knowledge base in the database (``kb_entries``, retired entries
    included), read again when an entry changes (their count and versions); empty when the
    schema has no such table (not migrated) or nothing was seeded yet."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._stamp: tuple[object, ...] | None = None
        self._value: dict[str, str] = {}
        self._lock = threading.Lock()

    def questions(self) -> Mapping[str, str]:
        try:
            with self.db.session() as session:
                stamp = tuple(session.execute(select(
                    func.count(), func.sum(KbEntry.version), func.max(KbEntry.updated_at))
                ).one())
                with self._lock:
                    if stamp != self._stamp:
                        rows = session.execute(select(KbEntry.id, KbEntry.fields)).all()
                        self._value = {entry_id: str(fields.get("question") or "")
                                       for entry_id, fields in rows
                                       if fields.get("question")}
                        self._stamp = stamp
                    return self._value
        except (OperationalError, ProgrammingError):
            return {}


class FileLabels:
    """Node titles from the menu file, FAQ questions from ``faqs`` (the live knowledge base,
    :class:`LiveFaqQuestions`) and, for an id that has none there, the knowledge base's data
    files, queue titles from ``queues`` (the queue table)."""

    def __init__(self, menu_file: Path, kb_data_dir: Path,
                 queues: QueueTitles | None = None, faqs: FaqQuestions | None = None) -> None:
        self._queues = queues
        self._live_faqs = faqs
        self._nodes = _FileCache(lambda: [menu_file], lambda: load_menu(menu_file).titles(),
                                 dict[str, str]())
        self._faqs = _FileCache(
            lambda: sorted(kb_data_dir.glob("*.yaml")),
            lambda: {e.id: e.question for e in faq_entries(kb_data_dir) if e.question},
            dict[str, str]())

    def nodes(self) -> Mapping[str, str]:
        return self._nodes.get()

    def faqs(self) -> Mapping[str, str]:
        live = self._live_faqs.questions() if self._live_faqs is not None else {}
        files = self._faqs.get()
        # the live base's words first; an id it lacks keeps the data files' question (a base
        # seeded in part, or not yet) rather than showing the bare id
        return {**files, **live} if live else files

    def queues(self) -> Mapping[str, str]:
        return self._queues.titles() if self._queues is not None else {}
