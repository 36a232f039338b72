"""Loading and validation of the FAQ data files (YAML) against the optional spec."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from knowledge_base.models import FaqEntry, Severity, ValidationIssue

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
DEFAULT_DATA_DIR = PACKAGE_DIR / "data"
DEFAULT_CACHE_DIR = REPO_ROOT / "var" / "kb-cache"
MAX_TOP = 20  # the most results one search returns
EVAL_DIR = PACKAGE_DIR / "eval"
"""Frozen sets the base is checked against: the spec, the dev and out-of-scope questions."""
DEFAULT_SPEC_PATH = EVAL_DIR / "faq_spec.yaml"

REQUIRED_FIELDS = (
    "id",
    "category",
    "question",
    "similar",
    "keywords",
    "answer",
    "effective_from",
    "effective_to",
    "source",
)
OPTIONAL_FIELDS = ("key_facts",)
"""`key_facts`: short strings the answer must state verbatim (an error when one is missing from
the answer). Optional in the format, a warning when absent; the shipped data has them all."""
_ID_PATTERN = re.compile(r"^[a-z0-9_]+(?:\.[a-z0-9_]+)*$")
NO_ID = "-"


@dataclass(frozen=True, slots=True)
class SpecEntry:
    """What the spec requires of one FAQ id."""

    id: str
    category: str
    question: str
    key_facts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Spec:
    path: Path
    entries: Mapping[str, SpecEntry]
    categories: tuple[str, ...]


@dataclass
class LoadResult:
    """Entries that passed validation, every issue found, and a hash of the input files."""

    entries: list[FaqEntry] = field(default_factory=list)
    issues: list[ValidationIssue] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    data_hash: str = ""

    @property
    def errors(self) -> list[ValidationIssue]:
        return [i for i in self.issues if i.severity is Severity.ERROR]

    @property
    def ok(self) -> bool:
        return not self.errors


def default_spec_path() -> Path | None:
    """The frozen spec `knowledge_base/eval/faq_spec.yaml`, when it exists."""
    return DEFAULT_SPEC_PATH if DEFAULT_SPEC_PATH.is_file() else None


def data_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in data_dir.glob("*.yaml") if p.is_file())


def hash_files(files: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def load_spec(path: Path) -> Spec:
    """Read the spec file (raises OSError / ValueError / yaml.YAMLError on a broken file)."""
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    if not isinstance(raw, dict) or not isinstance(raw.get("entries"), list):
        raise ValueError(f"{path}: expected a mapping with an 'entries' list")
    entries: dict[str, SpecEntry] = {}
    for item in raw["entries"]:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise ValueError(f"{path}: spec entry without an id: {item!r}")
        facts = item.get("key_facts") or []
        entries[item["id"]] = SpecEntry(
            id=item["id"],
            category=str(item.get("category", "")),
            question=str(item.get("question", "")),
            key_facts=tuple(str(f) for f in facts),
        )
    categories = tuple(str(c) for c in raw.get("categories") or ())
    return Spec(path=path, entries=entries, categories=categories)


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return None  # a timestamp is not an ISO date
    if isinstance(value, date):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


class _EntryChecker:
    def __init__(self, file: str, label: str, issues: list[ValidationIssue]) -> None:
        self.file = file
        self.label = label
        self.issues = issues
        self.failed = False

    def error(self, field_name: str, message: str) -> None:
        self.failed = True
        self.issues.append(ValidationIssue(self.file, self.label, field_name, message))

    def warn(self, field_name: str, message: str) -> None:
        self.issues.append(
            ValidationIssue(self.file, self.label, field_name, message, Severity.WARNING)
        )

    def text(self, raw: Mapping[str, Any], name: str) -> str:
        value = raw.get(name)
        if not isinstance(value, str):
            self.error(name, f"must be a string, got {type(value).__name__}")
            return ""
        if not value.strip():
            self.error(name, "is empty")
        return value.strip()

    def text_list(self, raw: Mapping[str, Any], name: str) -> tuple[str, ...]:
        value = raw.get(name)
        if value is None:
            return ()
        if not isinstance(value, list):
            self.error(name, f"must be a list of strings, got {type(value).__name__}")
            return ()
        out: list[str] = []
        for index, item in enumerate(value):
            if not isinstance(item, str | int | float) or isinstance(item, bool):
                self.error(name, f"item {index + 1} must be a string")
            elif not str(item).strip():
                self.error(name, f"item {index + 1} is empty")
            else:
                out.append(str(item).strip())
        return tuple(out)


def _check_entry(
    raw: Any, file: str, position: int, issues: list[ValidationIssue]
) -> FaqEntry | None:
    if not isinstance(raw, dict):
        issues.append(
            ValidationIssue(file, f"#{position}", NO_ID, "entry must be a mapping of fields")
        )
        return None
    raw_id = raw.get("id")
    label = raw_id.strip() if isinstance(raw_id, str) and raw_id.strip() else f"#{position}"
    check = _EntryChecker(file, label, issues)
    for name in REQUIRED_FIELDS:
        if name not in raw:
            check.error(name, "missing field")
    for name in raw:
        if name not in REQUIRED_FIELDS and name not in OPTIONAL_FIELDS:
            check.error(str(name), "unknown field")
    if "id" in raw:
        entry_id = check.text(raw, "id")
        if entry_id and not _ID_PATTERN.fullmatch(entry_id):
            check.warn("id", "should be dotted lower-case words (e.g. vat.rates.overview)")
    category = check.text(raw, "category") if "category" in raw else ""
    question = check.text(raw, "question") if "question" in raw else ""
    answer = check.text(raw, "answer") if "answer" in raw else ""
    source = check.text(raw, "source") if "source" in raw else ""
    similar = check.text_list(raw, "similar")
    keywords = check.text_list(raw, "keywords")
    if "similar" in raw and raw["similar"] is None:
        check.error("similar", "must be a list (use [] for none)")
    if "keywords" in raw and raw["keywords"] is None:
        check.error("keywords", "must be a list (use [] for none)")
    key_facts = check.text_list(raw, "key_facts")
    if "key_facts" in raw and raw["key_facts"] is None:
        check.error("key_facts", "must be a list of strings (leave the field out for none)")
    elif not raw.get("key_facts"):
        check.warn("key_facts", "no key facts: nothing checks what this answer states")
    _check_key_facts(check, key_facts, answer)
    start: date | None = None
    end: date | None = None
    if "effective_from" in raw:
        start = _as_date(raw["effective_from"])
        if start is None:
            check.error(
                "effective_from", f"must be an ISO date (YYYY-MM-DD), got {raw['effective_from']!r}"
            )
    if "effective_to" in raw and raw["effective_to"] is not None:
        end = _as_date(raw["effective_to"])
        if end is None:
            check.error(
                "effective_to",
                f"must be an ISO date (YYYY-MM-DD) or null, got {raw['effective_to']!r}",
            )
    if start is not None and end is not None and end < start:
        check.error(
            "effective_to",
            f"ends before it starts ({end.isoformat()} < {start.isoformat()})",
        )
    if check.failed or start is None:
        return None
    return FaqEntry(
        id=label,
        category=category,
        question=question,
        similar=similar,
        keywords=keywords,
        answer=answer,
        effective_from=start,
        effective_to=end,
        source=source,
        key_facts=key_facts,
        file=file,
    )


def _check_key_facts(check: _EntryChecker, facts: tuple[str, ...], answer: str) -> None:
    """Each key fact must appear verbatim in the answer (what the caller hears)."""
    seen: set[str] = set()
    for fact in facts:
        if fact in seen:
            check.warn("key_facts", f"key fact {fact!r} is listed twice")
            continue
        seen.add(fact)
        if answer and fact not in answer:
            check.error("key_facts", f"key fact {fact!r} is not in the answer")


def _check_against_spec(
    entries: list[FaqEntry],
    present_ids: Mapping[str, str],
    spec: Spec,
    today: date,
    issues: list[ValidationIssue],
    require_all: bool = True,
) -> None:
    spec_file = str(spec.path)
    by_id = {e.id: e for e in entries}
    for spec_entry in spec.entries.values():
        entry = by_id.get(spec_entry.id)
        if entry is None:
            if require_all and spec_entry.id not in present_ids:  # invalid ones: reported
                issues.append(
                    ValidationIssue(spec_file, spec_entry.id, "id", "spec id has no data entry")
                )
            continue
        for fact in spec_entry.key_facts:
            if fact not in entry.answer:
                issues.append(
                    ValidationIssue(
                        entry.file, entry.id, "answer", f"missing key fact {fact!r} of the spec"
                    )
                )
            elif fact not in entry.key_facts:
                issues.append(
                    ValidationIssue(
                        entry.file,
                        entry.id,
                        "key_facts",
                        f"key fact {fact!r} of the spec is not listed in the entry's key_facts",
                        Severity.WARNING,
                    )
                )
        if spec_entry.category and entry.category != spec_entry.category:
            issues.append(
                ValidationIssue(
                    entry.file,
                    entry.id,
                    "category",
                    f"spec says {spec_entry.category!r}",
                    Severity.WARNING,
                )
            )
        if not entry.is_effective(today):
            issues.append(
                ValidationIssue(
                    entry.file,
                    entry.id,
                    "effective_to"
                    if entry.effective_to and entry.effective_to < today
                    else "effective_from",
                    f"spec entry is not effective on {today.isoformat()}, it will not be served",
                    Severity.WARNING,
                )
            )
    if spec.categories:
        known = set(spec.categories)
        for entry in entries:
            if entry.category not in known and entry.id not in spec.entries:
                issues.append(
                    ValidationIssue(
                        entry.file,
                        entry.id,
                        "category",
                        f"unknown category {entry.category!r}",
                        Severity.WARNING,
                    )
                )


def _check_ambiguity(entries: list[FaqEntry], issues: list[ValidationIssue]) -> None:
    seen: dict[str, str] = {}
    for entry in entries:
        for name, texts in (("question", (entry.question,)), ("similar", entry.similar)):
            for text in texts:
                key = re.sub(r"[\s\W_]+", "", text).lower()
                other = seen.setdefault(key, entry.id)
                if other != entry.id:
                    issues.append(
                        ValidationIssue(
                            entry.file,
                            entry.id,
                            name,
                            f"{text!r} also belongs to entry {other!r}",
                            Severity.WARNING,
                        )
                    )


def load_data(
    data_dir: Path,
    spec_path: Path | None = None,
    today: date | None = None,
) -> LoadResult:
    """Read and validate every `*.yaml` file of `data_dir` (or the one file it names).

    Never raises on bad data: every problem becomes a `ValidationIssue`. With a single file,
    spec ids that the file lacks are not reported (they may live in the other files).
    """
    today = today or date.today()
    result = LoadResult()
    single_file = data_dir.is_file()
    if not single_file and not data_dir.is_dir():
        result.issues.append(
            ValidationIssue(str(data_dir), NO_ID, NO_ID, "data path does not exist")
        )
        return result
    result.files = [data_dir] if single_file else data_files(data_dir)
    result.data_hash = hash_files(result.files)
    if not result.files:
        result.issues.append(
            ValidationIssue(str(data_dir), NO_ID, NO_ID, "no *.yaml data file found")
        )
    items: list[tuple[str, int, Any]] = []
    for path in result.files:
        file = str(path)
        try:
            raw = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            detail = " ".join(str(exc).split())
            result.issues.append(ValidationIssue(file, NO_ID, NO_ID, f"cannot read: {detail}"))
            continue
        if raw is None:
            result.issues.append(
                ValidationIssue(file, NO_ID, NO_ID, "file holds no entries", Severity.WARNING)
            )
            continue
        if not isinstance(raw, list):
            result.issues.append(
                ValidationIssue(file, NO_ID, NO_ID, "top level must be a list of entries")
            )
            continue
        items.extend((file, position, item) for position, item in enumerate(raw, start=1))
    _check_items(result, items, spec_path, today, require_all=not single_file)
    if result.files and not result.entries and not result.errors:
        result.issues.append(ValidationIssue(str(data_dir), NO_ID, NO_ID, "no entry found"))
    return result


def check_entries(
    items: Sequence[tuple[str, Mapping[str, Any]]],
    spec_path: Path | None = None,
    today: date | None = None,
) -> LoadResult:
    """Validate entries given as raw field mappings (``(file, fields)`` each, in order), as
    `load_data` validates a file's: the knowledge base kept in a database is checked by the
    same rules. ``data_hash`` is a hash of the fields (same entries, same hash)."""
    today = today or date.today()
    result = LoadResult()
    digest = hashlib.sha256()
    for file, raw in items:
        digest.update(file.encode() + b"\0")
        digest.update(json.dumps(raw, ensure_ascii=False, sort_keys=True, default=str).encode())
        digest.update(b"\0")
    result.data_hash = digest.hexdigest()
    positions: dict[str, int] = {}
    numbered: list[tuple[str, int, Any]] = []
    for file, raw in items:
        positions[file] = positions.get(file, 0) + 1
        numbered.append((file, positions[file], dict(raw)))
    # a spec id without an entry is no error here: staff may retire an entry the spec names
    _check_items(result, numbered, spec_path, today, require_all=False)
    if not result.entries and not result.errors:
        result.issues.append(ValidationIssue("-", NO_ID, NO_ID, "no entry found"))
    return result


def check_entry(raw: Mapping[str, Any], file: str = "-") -> list[ValidationIssue]:
    """The problems of one entry on its own (fields, key facts, dates): what an editor must
    fix before the entry can be saved as a draft."""
    issues: list[ValidationIssue] = []
    _check_entry(dict(raw), file, 1, issues)
    return issues


def _check_items(
    result: LoadResult,
    items: Sequence[tuple[str, int, Any]],
    spec_path: Path | None,
    today: date,
    require_all: bool,
) -> None:
    entries: list[FaqEntry] = []
    first_seen: dict[str, str] = {}
    for file, position, item in items:
        entry = _check_entry(item, file, position, result.issues)
        raw_id = item.get("id") if isinstance(item, dict) else None
        if isinstance(raw_id, str) and raw_id.strip():
            entry_id = raw_id.strip()
            if entry_id in first_seen:
                result.issues.append(
                    ValidationIssue(
                        file, entry_id, "id", f"duplicate id (first in {first_seen[entry_id]})"
                    )
                )
                continue
            first_seen[entry_id] = file
        if entry is not None:
            entries.append(entry)
    if spec_path is not None:
        try:
            spec = load_spec(spec_path)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            result.issues.append(
                ValidationIssue(str(spec_path), NO_ID, NO_ID, f"cannot read spec: {exc}")
            )
        else:
            _check_against_spec(
                entries, first_seen, spec, today, result.issues, require_all=require_all
            )
    _check_ambiguity(entries, result.issues)
    result.entries = entries
