"""The unanswered-questions report: the editors' work list (docs/kb.md, "Knowledge
operations").

Every channel logs the knowledge base's decision on a question as a ``faq_decision`` contact
event (the IVR's ``faq`` node: ``ivr/services/faq.py``; a text: ``callcenter/sms/services.py``;
the contact's ``medium`` says phone, sms or web). The questions declined or only offered for
confirmation are grouped by meaning: the knowledge base's own encoder turns each distinct
question into a unit vector, and a question joins the group whose centroid is nearest when
the cosine similarity reaches the threshold, else starts a new group (single pass, most
asked questions first: a group is named by its most asked question). Without an encoder
(``--no-dense`` bases in tests) character bigrams stand in for it.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy import select

from callcenter.contacts.models import Contact, ContactEventRow
from callcenter.db import Database
from ivr.events import EventKind

UNANSWERED = ("decline", "confirm")
DEFAULT_THRESHOLD = 0.92
"""Cosine similarity (the base's multilingual-e5-small, ``query:`` side) from which a question
joins a group: paraphrases of one question scored 0.94-0.98, different questions 0.79-0.90
(13 questions in 4 topics and 3 single ones, measured when this was written)."""
BIGRAM_THRESHOLD = 0.5
"""The same for the character-bigram stand-in."""
MAX_QUESTIONS = 5000

Encode = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Asked:
    text: str
    medium: str
    decision: str
    at: datetime
    candidates: tuple[str, ...] = ()


@dataclass
class Group:
    texts: Counter[str] = field(default_factory=Counter)
    channels: Counter[str] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)
    candidates: Counter[str] = field(default_factory=Counter)
    last_at: datetime | None = None

    @property
    def count(self) -> int:
        return sum(self.texts.values())

    def add(self, asked: Asked) -> None:
        self.texts[asked.text] += 1
        self.channels[asked.medium] += 1
        self.decisions[asked.decision] += 1
        self.candidates.update(asked.candidates)
        if self.last_at is None or asked.at > self.last_at:
            self.last_at = asked.at


def unanswered(db: Database, since: datetime, until: datetime,
               limit: int = MAX_QUESTIONS) -> list[Asked]:
    """The questions declined or offered for confirmation in [since, until), newest first."""
    with db.session() as session:
        rows = session.execute(
            select(ContactEventRow.data, ContactEventRow.at, Contact.medium)
            .join(Contact, Contact.id == ContactEventRow.contact_id)
            .where(ContactEventRow.kind == EventKind.FAQ_DECISION.value,
                   ContactEventRow.at >= since, ContactEventRow.at < until)
            .order_by(ContactEventRow.at.desc()).limit(limit)).all()
    found: list[Asked] = []
    for data, at, medium in rows:
        decision = str((data or {}).get("decision", ""))
        text = str((data or {}).get("text", "")).strip()
        if decision in UNANSWERED and text:
            found.append(Asked(text, medium or "phone", decision, at,
                               tuple(str(c) for c in (data or {}).get("candidates") or ())))
    return found


def bigram_vectors(texts: Sequence[str], dim: int = 1024) -> np.ndarray:
    """Unit vectors of the texts' character bigrams (hashed): the encoder's stand-in."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for row, text in enumerate(texts):
        chars = [c for c in text if not c.isspace() and c not in "，。？！,.?!"]
        grams = [a + b for a, b in itertools.pairwise(chars)] or chars
        for gram in grams:
            column = int.from_bytes(hashlib.blake2b(gram.encode(), digest_size=4).digest(),
                                    "big") % dim
            out[row, column] += 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    result: np.ndarray = out / np.maximum(norms, 1e-12)
    return result


def group_questions(asked: Sequence[Asked], encode: Encode | None,
                    threshold: float | None = None) -> list[Group]:
    """Group the questions by meaning; the largest groups first."""
    counts = Counter(a.text for a in asked)
    texts = [t for t, _ in counts.most_common()]
    if not texts:
        return []
    if encode is None:
        vectors = bigram_vectors(texts)
        threshold = BIGRAM_THRESHOLD if threshold is None else threshold
    else:
        vectors = np.asarray(encode(texts), dtype=np.float32)
        threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    sums: list[np.ndarray] = []
    members: list[list[int]] = []
    for index, vector in enumerate(vectors):
        best, best_sim = -1, threshold
        for g, total in enumerate(sums):
            centroid = total / max(float(np.linalg.norm(total)), 1e-12)
            sim = float(centroid @ vector)
            if sim >= best_sim:
                best, best_sim = g, sim
        if best < 0:
            sums.append(vector.copy())
            members.append([index])
        else:
            sums[best] += vector
            members[best].append(index)
    group_of = {texts[i]: g for g, ids in enumerate(members) for i in ids}
    groups = [Group() for _ in members]
    for item in asked:
        groups[group_of[item.text]].add(item)
    groups.sort(key=lambda g: (-g.count, g.texts.most_common(1)[0][0]))
    return groups
