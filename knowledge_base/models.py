"""Typed values of the knowledge base: entries, search results, validation issues."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any


@dataclass(frozen=True, slots=True)
class FaqEntry:
    """One FAQ entry as written in a data file."""

    id: str
    category: str
    question: str
    similar: tuple[str, ...]
    keywords: tuple[str, ...]
    answer: str
    effective_from: date
    effective_to: date | None
    source: str
    key_facts: tuple[str, ...] = ()
    """Short strings the answer must state verbatim (checked by the validator)."""
    file: str = ""

    def __reduce__(self) -> tuple[type[FaqEntry], tuple[Any, ...]]:
        # Positional re-construction: ~3x faster to unpickle than the dataclass default
        # (a cached 10,000-entry base holds 20,000 of them).
        return (
            FaqEntry,
            (
                self.id,
                self.category,
                self.question,
                self.similar,
                self.keywords,
                self.answer,
                self.effective_from,
                self.effective_to,
                self.source,
                self.key_facts,
                self.file,
            ),
        )

    def is_effective(self, day: date) -> bool:
        """True when the entry may be served on `day` (both bounds inclusive)."""
        if day < self.effective_from:
            return False
        return self.effective_to is None or day <= self.effective_to

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "category": self.category,
            "question": self.question,
            "similar": list(self.similar),
            "keywords": list(self.keywords),
            "answer": self.answer,
            "effective_from": self.effective_from.isoformat(),
            "effective_to": self.effective_to.isoformat() if self.effective_to else None,
            "source": self.source,
            "key_facts": list(self.key_facts),
        }


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One ranked answer candidate; `score` is in [0, 1], higher is better."""

    id: str
    score: float
    question: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "score": round(self.score, 4), "question": self.question}


class DecisionKind(StrEnum):
    """What to do with a caller's question (docs/kb.md, "The decision")."""

    ANSWER = "answer"
    """Confident: play or show the first result's answer."""
    CONFIRM = "confirm"
    """Unsure: ask the caller whether they mean the candidate (or the first of two)."""
    DECLINE = "decline"
    """Out of scope: no answer from the base; hand over to an agent."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The base's decision on one question, the same for every channel (IVR, API, console,
    command line).

    `results`: on ANSWER the ranked entries, the answer first; on CONFIRM the one or two
    candidates to offer, in order; on DECLINE none. `score` is the best entry's score and
    `margin` its lead over the best entry with a different answer (both 0 when nothing was
    ranked): the two figures the decision was taken on.
    """

    query: str
    kind: DecisionKind
    results: tuple[SearchResult, ...] = ()
    score: float = 0.0
    margin: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """`{"query", "decision", "results": [{"id", "score", "question"}]}`."""
        return {
            "query": self.query,
            "decision": self.kind.value,
            "results": [r.to_dict() for r in self.results],
        }


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """A problem found in the data: where (file, entry id, field) and what."""

    file: str
    entry_id: str
    field: str
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        prefix = "" if self.severity is Severity.ERROR else "warning: "
        return f"{self.file}:{self.entry_id}:{self.field}: {prefix}{self.message}"


class KnowledgeBaseError(Exception):
    """The data could not be loaded; `issues` lists every problem found."""

    def __init__(self, message: str, issues: Sequence[ValidationIssue] = ()) -> None:
        self.issues = tuple(issues)
        details = "".join(f"\n  {issue}" for issue in self.issues[:50])
        more = len(self.issues) - 50
        if more > 0:
            details += f"\n  ... and {more} more"
        super().__init__(message + details)
