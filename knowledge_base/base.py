"""`KnowledgeBase`: the loaded, searchable FAQ base, reloadable without downtime."""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal, TypeVar

from knowledge_base.cache_files import write_atomic
from knowledge_base.embedding import Embedder, StoredEmbedder, default_embedder
from knowledge_base.index import (
    ENGINE_VERSION,
    IndexData,
    SearchConfig,
    SearchEngine,
    build_index,
    prepare_analyzer,
)
from knowledge_base.loader import (
    DEFAULT_CACHE_DIR,
    DEFAULT_DATA_DIR,
    MAX_TOP,
    LoadResult,
    check_entries,
    data_files,
    default_spec_path,
    hash_files,
    load_data,
)
from knowledge_base.models import (
    Decision,
    FaqEntry,
    KnowledgeBaseError,
    SearchResult,
    ValidationIssue,
)
from knowledge_base.text import RESOURCES_DIR, TextAnalyzer

_LOG = logging.getLogger(__name__)
_T = TypeVar("_T")

MAX_STORED_VECTORS = 200_000

Auto = Literal["auto"]
EntrySource = Callable[[], Sequence[tuple[str, Mapping[str, Any]]]]
"""Where a base kept outside the data files (a database) reads its entries from: ``(file,
fields)`` pairs, validated as the files' entries are (`check_entries`)."""


@dataclass(frozen=True, slots=True)
class _Loaded:
    engine: SearchEngine
    result: LoadResult
    cache_key: str


def _read_pickle(path: Path | None, kind: type[_T]) -> _T | None:
    """A cached object of the expected type, or None (missing, corrupt, foreign: rebuilt)."""
    if path is None or not path.is_file():
        return None
    try:
        with path.open("rb") as handle:
            value: Any = pickle.load(handle)
    except Exception as exc:
        _LOG.warning("ignoring unreadable cache file %s: %s", path, exc)
        return None
    return value if isinstance(value, kind) else None


def _write_pickle(path: Path | None, value: object) -> None:
    if path is not None:
        write_atomic(path, lambda handle: pickle.dump(value, handle, pickle.HIGHEST_PROTOCOL))


def _resources_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted(RESOURCES_DIR.glob("*.txt")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _entries_hash(entries: Sequence[FaqEntry]) -> str:
    """A hash of what the index is built from: the entries' fields, in order, not where they
    were read (the data files and the database's copy of them share one cached index)."""
    digest = hashlib.sha256()
    for entry in entries:
        digest.update(json.dumps(entry.to_dict(), ensure_ascii=False, sort_keys=True).encode())
        digest.update(b"\0")
    return digest.hexdigest()


class KnowledgeBase:
    """Holder of the current FAQ index.

    `reload()` builds a new index from the data directory and swaps it in atomically; when the
    new data is broken the previous index stays in service and `KnowledgeBaseError` (with every
    issue) is raised. Searches never see a half-built index.
    """

    def __init__(
        self,
        data_dir: Path | str = DEFAULT_DATA_DIR,
        *,
        cache_dir: Path | str | None = DEFAULT_CACHE_DIR,
        spec_path: Path | str | Auto | None = "auto",
        embedder: Embedder | Auto | None = "auto",
        config: SearchConfig | None = None,
        clock: Callable[[], date] = date.today,
        source: EntrySource | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.source = source
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.spec_path = (
            default_spec_path()
            if spec_path == "auto"
            else (Path(spec_path) if spec_path is not None else None)
        )
        self._embedder_choice = embedder
        self._embedder: Embedder | None = None
        self._embedder_ready = False
        self.config = config or SearchConfig()
        self.clock = clock
        self._analyzer: TextAnalyzer | None = None
        self._current: _Loaded | None = None
        self._reload_lock = threading.Lock()

    @classmethod
    def load(
        cls,
        data_dir: Path | str = DEFAULT_DATA_DIR,
        *,
        cache_dir: Path | str | None = DEFAULT_CACHE_DIR,
        spec_path: Path | str | Auto | None = "auto",
        embedder: Embedder | Auto | None = "auto",
        config: SearchConfig | None = None,
        clock: Callable[[], date] = date.today,
        source: EntrySource | None = None,
    ) -> KnowledgeBase:
        """Create and load a base; raises `KnowledgeBaseError` when the data is broken.
        ``source``: read the entries from there instead of the data files."""
        kb = cls(
            data_dir,
            cache_dir=cache_dir,
            spec_path=spec_path,
            embedder=embedder,
            config=config,
            clock=clock,
            source=source,
        )
        kb.reload()
        return kb

    # ----------------------------------------------------------------- loading
    @property
    def embedder(self) -> Embedder | None:
        if not self._embedder_ready:
            choice = self._embedder_choice
            self._embedder = (
                default_embedder(cache_dir=self.cache_dir) if choice == "auto" else choice
            )
            self._embedder_ready = True
        return self._embedder

    @property
    def analyzer(self) -> TextAnalyzer:
        if self._analyzer is None:
            self._analyzer = TextAnalyzer.from_resources()
        return self._analyzer

    def reload(self) -> LoadResult:
        """Load the data again; on errors keep serving the previous index and raise."""
        with self._reload_lock:
            result = self._load_data()
            if not result.ok:
                raise KnowledgeBaseError(
                    f"knowledge base {self._origin} refused: {len(result.errors)} error(s)"
                    + (", previous version kept" if self._current else ""),
                    result.errors,
                )
            embedder = self.embedder
            key = self._cache_key(result, embedder)
            if self._current is not None and self._current.cache_key == key:
                self._current = _Loaded(self._current.engine, result, key)
                return result
            # A fresh analyzer per build: keywords added to the segmenter must not leak across
            # versions of the data.
            analyzer = TextAnalyzer.from_resources()
            data = _read_pickle(self._cache_file(f"index-{key}"), IndexData)
            if data is None or data.version != ENGINE_VERSION:
                data = self._build(result, analyzer, embedder)
                _write_pickle(self._cache_file(f"index-{key}"), data)
            else:
                prepare_analyzer(analyzer, data.entries)
            engine = SearchEngine(data, analyzer, embedder, self.config)
            self._analyzer = analyzer
            self._current = _Loaded(engine, result, key)
            _LOG.info("knowledge base loaded: %d entries from %s", len(data.entries), self._origin)
            return result

    @property
    def _origin(self) -> str:
        return "its entry source" if self.source is not None else str(self.data_dir)

    def _load_data(self) -> LoadResult:
        """Validated entries; a valid result is cached (parsing YAML is the slow part)."""
        today = self.clock()
        spec_hash = (hash_files([self.spec_path]) if self.spec_path and self.spec_path.is_file()
                     else "-")
        if self.source is not None:
            items = self.source()
            digest = hashlib.sha256()
            for part in (ENGINE_VERSION, spec_hash, today.isoformat()):
                digest.update(part.encode() + b"\0")
            for file, fields in items:
                digest.update(json.dumps([file, fields], ensure_ascii=False, sort_keys=True,
                                         default=str).encode() + b"\0")
            path = self._cache_file(f"load-{digest.hexdigest()[:32]}")
            cached = _read_pickle(path, LoadResult)
            if cached is not None:
                return cached
            result = check_entries(items, self.spec_path, today)
            if result.ok:
                _write_pickle(path, result)
            return result
        files = [self.data_dir] if self.data_dir.is_file() else data_files(self.data_dir)
        digest = hashlib.sha256()
        for part in (
            ENGINE_VERSION,
            str(self.data_dir.resolve()),
            hash_files(files),
            spec_hash,
            today.isoformat(),
        ):
            digest.update(part.encode() + b"\0")
        path = self._cache_file(f"load-{digest.hexdigest()[:32]}")
        cached = _read_pickle(path, LoadResult)
        if cached is not None:
            return cached
        result = load_data(self.data_dir, self.spec_path, today=today)
        if result.ok:
            _write_pickle(path, result)
        return result

    def _build(
        self, result: LoadResult, analyzer: TextAnalyzer, embedder: Embedder | None
    ) -> IndexData:
        """Build the index; text vectors already computed once are reused from the cache."""
        if embedder is None:
            return build_index(result.entries, analyzer, None, self.config)
        name_hash = hashlib.sha256(embedder.name.encode()).hexdigest()[:16]
        store_path = self._cache_file(f"vectors-{name_hash}")
        store = _read_pickle(store_path, dict) or {}
        stored = StoredEmbedder(embedder, store)
        data = build_index(result.entries, analyzer, stored, self.config)
        if stored.computed:
            kept = store if len(store) <= MAX_STORED_VECTORS else stored.used_vectors()
            _write_pickle(store_path, kept)
        return data

    def _cache_key(self, result: LoadResult, embedder: Embedder | None) -> str:
        digest = hashlib.sha256()
        for part in (
            ENGINE_VERSION,
            _entries_hash(result.entries),
            _resources_hash(),
            embedder.name if embedder is not None else "no-embedder",
            self.config.build_key(),
        ):
            digest.update(part.encode() + b"\0")
        return digest.hexdigest()[:32]

    def _cache_file(self, stem: str) -> Path | None:
        return self.cache_dir / f"{stem}.pkl" if self.cache_dir is not None else None

    # ----------------------------------------------------------------- queries
    def _engine(self) -> SearchEngine:
        current = self._current
        if current is None:
            raise KnowledgeBaseError("knowledge base not loaded")
        return current.engine

    @property
    def loaded(self) -> bool:
        return self._current is not None

    @property
    def issues(self) -> tuple[ValidationIssue, ...]:
        """Warnings of the data currently served (errors never get this far)."""
        current = self._current
        return tuple(current.result.issues) if current else ()

    def decide(self, query: str, top: int = 3) -> Decision:
        """Answer, confirm or decline a caller's question (docs/kb.md, "The decision"): the
        one decision the IVR, the API, the console and the command line all use."""
        top = max(0, min(int(top), MAX_TOP))
        return self._engine().decide(query, top, self.clock())

    def search(self, query: str, top: int = 3) -> list[SearchResult]:
        """The results of `decide`: on answer the ranked entries (the answer first), on
        confirm the one or two candidates, on decline none."""
        return list(self.decide(query, top).results)

    def rank(self, query: str, top: int = 3) -> list[SearchResult]:
        """The entries ranked first, without the decision: for evaluation (the ranking's
        accuracy apart from the decision), not for answering callers."""
        top = max(0, min(int(top), MAX_TOP))
        return self._engine().rank(query, top, self.clock())

    def get(self, entry_id: str) -> FaqEntry:
        """The entry with this id (served or not); raises KeyError when unknown."""
        return self._engine().by_id[entry_id]

    def entries(self, *, effective_only: bool = True) -> list[FaqEntry]:
        entries = self._engine().data.entries
        if not effective_only:
            return list(entries)
        today = self.clock()
        return [e for e in entries if e.is_effective(today)]

    def __len__(self) -> int:
        return len(self.entries())
