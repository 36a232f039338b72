"""The search index: BM25 over words and pinyin n-grams fused with dense retrieval.

Scores of the three channels are put on absolute scales (query-term coverage for BM25, cosine
for the embeddings) before fusion, so that fixed thresholds can decide whether to answer, ask
the caller to confirm, or decline (`SearchEngine.decide`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from knowledge_base.embedding import Embedder, Matrix, token_counter
from knowledge_base.models import Decision, DecisionKind, FaqEntry, SearchResult
from knowledge_base.text import (
    PhoneticCorrector,
    TextAnalyzer,
    basic_normalize,
    pinyin_ngrams,
)

# Part of every cache key: bump it whenever a pickled class changes (IndexData, Bm25, FaqEntry,
# ValidationIssue, LoadResult) or the way the index is built (7: synonyms are no longer matched
# across a measure word, `text.KEPT_WORDS`, which changes the normalised entries; 8: the fifth
# calibration's decision, a decline floor for questions the encoder sees only part of: query
# time only, bumped so that every cache and report names the engine that decided).
ENGINE_VERSION = "kb-engine-8"

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class SearchConfig:
    """Fusion weights (tuned on half A of the dev set) and the three-way decision (calibrated
    on every set seen so far, `benchmarks/kb_calibrate.py`; docs/kb.md, "The decision")."""

    weight_dense: float = 0.50
    weight_words: float = 0.05
    weight_pinyin: float = 0.10
    weight_unit_words: float = 0.05
    weight_unit_pinyin: float = 0.10
    dense_floor: float = 0.80
    """Cosines at or below this count as no similarity (E5 cosines rarely go below 0.75)."""
    decline_below: float = 0.44
    """A best fused score under this: decline (out of scope, no candidate is offered)."""
    decline_below_long: float = 0.30
    """The same for a question the encoder saw only part of (its content cut to the token
    budget, `QueryAnalysis.cut`: a caller's long run-on story). Its cosine, and so its fused
    score, is lower for the same right entry (the words in the middle are not encoded, and
    the lexical coverage is diluted by the story's words), so its best entry is offered to
    confirm down to this score rather than refused. Only decline turns into confirm: the
    answer rules (`answer_above` and the three below) are the same for every question."""
    answer_above: float = 0.48
    """Answer without asking only when the best score is at least this (above the decline
    floors since the fifth calibration: between them the caller is asked to confirm) and one
    of three rules holds (docs/kb.md, "The decision"):"""
    answer_margin: float = 0.04
    """(1) and (2): the best entry leads the best entry with a different answer by at least
    this much, and ..."""
    answer_min_cosine: float = 0.98
    """(1) ... the encoder alone is sure: the cosine between the question and the best entry's
    closest text is at least this (0 = no such condition); or ..."""
    answer_covered_cosine: float = 0.9675
    """(2) ... the cosine is at least this and the best entry covers the question's words:
    at most `answer_max_uncovered` of their weight is missing from its texts (question,
    similar questions, keywords, answer; `uncovered_share`); or"""
    answer_max_uncovered: float = 0.20
    answer_full_cosine: float = 0.94
    """(3) the cosine is at least this, at most `answer_full_uncovered` of the words' weight
    is missing from the entry and it leads by `answer_full_margin`. Otherwise (at or above
    `decline_below`) the caller is asked to confirm. A rule with a cosine over 1 never
    holds."""
    answer_full_uncovered: float = 0.05
    answer_full_margin: float = 0.08
    confirm_pair_margin: float = 1.0
    """On confirm, the runner-up (best entry with a different answer) is offered second when
    it trails the best by less than this (and is not under the question's decline floor
    itself); 1.0 (fifth calibration): always, a "no" to the first candidate costs the caller
    nothing more than a hand-over would."""
    decline_below_lexical: float = 0.20
    """The same settings for scores of the lexical channels alone (an engine without an
    embedder, or a question taken by the lexical short cut): another scale, no cosine."""
    answer_above_lexical: float = 0.76
    answer_margin_lexical: float = 0.08
    confirm_pair_margin_lexical: float = 0.08
    question_boost: int = 2
    k1: float = 1.2
    b: float = 0.5
    pinyin_n: int = 2
    dense_exact_units: int = 8192
    """Above this many embedded texts, entry centroids preselect the candidates first."""
    dense_candidates: int = 64
    dense_fillers: bool = False
    """Give the encoder the question with filler words (False: fillers removed, fewer tokens)."""
    dense_keep: Literal["head", "head_tail", "clauses"] = "head_tail"
    """Which part of a long question the encoder sees: the start, start and end (callers
    often give the context first and the actual question last), or whole clauses around the
    question clause (`question_clauses`)."""
    dense_question_clause: bool = True
    """Also encode the question's clauses around its question clause (the last clause that
    asks: 吗, 多少, 怎么, 能不能 ...; `question_clauses`) when they differ from what the encoder
    saw, and take the better cosine per text."""
    entity_penalty: float = 0.85
    """Factor applied to entries that never mention a tax named in the question."""
    dense_max_chars: int = 32
    """Longer questions are cut for the encoder (its cost grows with tokens; words still count
    in full in the lexical channels)."""
    dense_max_tokens: int = 18
    """Then cut further (same `dense_keep` rule) until the encoder sees at most this many
    tokens, prefix and special tokens included (6 of them): the encoder costs ~0.5 ms per
    token on one core (onnxruntime, docs/kb.md), so this bounds the tail latency. 18 tokens
    hold 32 characters' questions well enough that a longer input gave the same dev-set
    answers. 0 = no token cap; only applies to embedders that count tokens
    (`TokenCounter`)."""
    lexical_decisive: float = 0.65
    """Skip the encoder when the lexical channels alone (fused, weights renormalised) give
    the best entry at least this score ..."""
    lexical_decisive_margin: float = 2.0
    """... and lead the best entry with a different answer by this much (> 1 disables, the
    default: the decision needs the encoder's view, since on the tuning set the short cut
    (0.65 / 0.15) took 5 of its 70 out-of-scope questions on lexical evidence alone)."""

    def thresholds(self, lexical: bool = False) -> Thresholds:
        """The decision's settings for dense-fused scores, or for lexical-only ones."""
        if lexical:
            return Thresholds(self.decline_below_lexical, self.answer_above_lexical,
                              self.answer_margin_lexical, 0.0, self.confirm_pair_margin_lexical)
        return Thresholds(self.decline_below, self.answer_above, self.answer_margin,
                          self.answer_min_cosine, self.confirm_pair_margin,
                          self.answer_covered_cosine, self.answer_max_uncovered,
                          self.answer_full_cosine, self.answer_full_uncovered,
                          self.answer_full_margin, self.decline_below_long)

    def build_key(self) -> str:
        """The settings that shape the index itself (the rest apply at query time)."""
        return f"boost={self.question_boost} k1={self.k1} b={self.b} n={self.pinyin_n}"


@dataclass
class Bm25:
    """Okapi BM25 with postings in flat numpy arrays (column-compressed by term)."""

    vocab: dict[str, int]
    idf: FloatArray
    ptr: IntArray
    docs: IntArray
    weights: FloatArray
    n_docs: int

    @classmethod
    def build(cls, corpus: Sequence[Sequence[str]], k1: float, b: float) -> Bm25:
        n_docs = len(corpus)
        lengths = np.array([len(doc) for doc in corpus], dtype=np.float64)
        avg = float(lengths.mean()) if n_docs and lengths.sum() else 1.0
        postings: dict[str, list[tuple[int, int]]] = {}
        for doc_id, doc in enumerate(corpus):
            for term, tf in Counter(doc).items():
                postings.setdefault(term, []).append((doc_id, tf))
        vocab: dict[str, int] = {}
        idf = np.zeros(len(postings), dtype=np.float64)
        ptr = np.zeros(len(postings) + 1, dtype=np.int64)
        doc_list: list[int] = []
        weight_list: list[float] = []
        for term_id, (term, plist) in enumerate(sorted(postings.items())):
            vocab[term] = term_id
            df = len(plist)
            term_idf = math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
            idf[term_id] = term_idf
            for doc_id, tf in plist:
                norm = k1 * (1.0 - b + b * lengths[doc_id] / avg)
                doc_list.append(doc_id)
                weight_list.append(term_idf * tf * (k1 + 1.0) / (tf + norm))
            ptr[term_id + 1] = len(doc_list)
        return cls(
            vocab=vocab,
            idf=idf,
            ptr=ptr,
            docs=np.asarray(doc_list, dtype=np.int64),
            weights=np.asarray(weight_list, dtype=np.float64),
            n_docs=n_docs,
        )

    @property
    def unseen_idf(self) -> float:
        """Weight given to query terms the corpus never uses (as rare as a term can be)."""
        return math.log(1.0 + (self.n_docs + 0.5) / 0.5)

    def coverage(self, terms: Sequence[str]) -> FloatArray:
        """BM25 of every document divided by the summed idf of the query's distinct terms.

        About 1.0 when a document of average length holds every query term once; unknown
        query terms count in the denominator, so off-topic questions score low.
        """
        scores = np.zeros(self.n_docs, dtype=np.float64)
        total = 0.0
        for term in set(terms):
            term_id = self.vocab.get(term)
            if term_id is None:
                total += self.unseen_idf
                continue
            total += float(self.idf[term_id])
            start, end = int(self.ptr[term_id]), int(self.ptr[term_id + 1])
            scores[self.docs[start:end]] += self.weights[start:end]
        if total <= 0.0:
            return scores
        return scores / total


@dataclass
class IndexData:
    """Everything precomputed from the entries (picklable, cached on disk)."""

    entries: list[FaqEntry]
    words: Bm25
    pinyin: Bm25
    unit_words: Bm25
    unit_pinyin: Bm25
    lexical_unit_entry: IntArray
    vocabulary: dict[str, int]
    entity_names: list[str]
    entry_entities: NDArray[np.bool_]
    unit_entry: IntArray
    unit_vectors: Matrix | None
    entry_centroids: Matrix | None
    embedder_name: str | None
    pinyin_n: int
    build_key: str
    coverage_texts: list[str]
    """Per entry: its question, similar questions, keywords and answer, normalised (what
    `uncovered_share` looks the question's words up in)."""
    version: str = ENGINE_VERSION


def entry_texts(entry: FaqEntry) -> list[str]:
    """The texts that stand for an entry: its question first, then the similar questions."""
    return [entry.question, *entry.similar]


def prepare_analyzer(analyzer: TextAnalyzer, entries: Sequence[FaqEntry]) -> None:
    """Teach the segmenter the entries' keywords (done before building and after caching)."""
    keywords = dict.fromkeys(k for e in entries for k in e.keywords)  # paraphrases share them
    analyzer.add_words(basic_normalize(k) for k in keywords)


def build_index(
    entries: Sequence[FaqEntry],
    analyzer: TextAnalyzer,
    embedder: Embedder | None,
    config: SearchConfig,
) -> IndexData:
    prepare_analyzer(analyzer, entries)
    word_docs: list[list[str]] = []
    pinyin_docs: list[list[str]] = []
    unit_word_docs: list[list[str]] = []
    unit_pinyin_docs: list[list[str]] = []
    lexical_unit_entry: list[int] = []
    vocabulary: Counter[str] = Counter()
    units: list[str] = []
    unit_entry: list[int] = []
    entity_names = sorted(set(analyzer.entities))
    entity_column = {name: i for i, name in enumerate(entity_names)}
    entry_entities = np.zeros((len(entries), len(entity_names)), dtype=bool)
    for index, entry in enumerate(entries):
        found: set[str] = set()
        for text in [*entry_texts(entry), *entry.keywords, entry.answer]:
            found |= analyzer.find_entities(analyzer.normalize(text))
        for name in analyzer.expand_entities(found):
            entry_entities[index, entity_column[name]] = True
    for index, entry in enumerate(entries):
        texts = entry_texts(entry)
        words: list[str] = []
        grams: list[str] = []
        lexical_units = [*texts, "，".join(entry.keywords)] if entry.keywords else texts
        for position, text in enumerate(lexical_units):
            base = basic_normalize(text)
            vocabulary.update(analyzer.cut(base))
            norm = analyzer.synonyms.apply(base)
            unit_words = analyzer.segment(norm)
            unit_grams = pinyin_ngrams(analyzer.content_text(norm), config.pinyin_n)
            repeat = config.question_boost if position == 0 else 1
            words.extend(unit_words * repeat)
            grams.extend(unit_grams * repeat)
            unit_word_docs.append(unit_words)
            unit_pinyin_docs.append(unit_grams)
            lexical_unit_entry.append(index)
            if position < len(texts):
                units.append(norm)
                unit_entry.append(index)
        word_docs.append(words)
        pinyin_docs.append(grams)
    for variant, canonical in analyzer.synonyms.mapping.items():
        vocabulary[variant] += 1
        vocabulary[canonical] += 1
    for word in analyzer.user_words:
        vocabulary[word] += 1
    vectors = embedder.encode(units) if embedder is not None and units else None
    centroids: Matrix | None = None
    if vectors is not None:
        owner = np.asarray(unit_entry, dtype=np.int64)
        sums = np.add.reduceat(vectors, group_starts(owner), axis=0)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        centroids = (sums / np.maximum(norms, 1e-12)).astype(np.float32)
    return IndexData(
        entries=list(entries),
        words=Bm25.build(word_docs, config.k1, config.b),
        pinyin=Bm25.build(pinyin_docs, config.k1, config.b),
        unit_words=Bm25.build(unit_word_docs, config.k1, config.b),
        unit_pinyin=Bm25.build(unit_pinyin_docs, config.k1, config.b),
        lexical_unit_entry=np.asarray(lexical_unit_entry, dtype=np.int64),
        vocabulary=dict(vocabulary),
        entity_names=entity_names,
        entry_entities=entry_entities,
        unit_entry=np.asarray(unit_entry, dtype=np.int64),
        unit_vectors=vectors,
        entry_centroids=centroids,
        embedder_name=embedder.name if embedder is not None and vectors is not None else None,
        pinyin_n=config.pinyin_n,
        build_key=config.build_key(),
        coverage_texts=[coverage_text(analyzer, entry) for entry in entries],
    )


def coverage_text(analyzer: TextAnalyzer, entry: FaqEntry) -> str:
    """Everything an entry says, normalised like a question: the words it covers."""
    return analyzer.normalize(" ".join([*entry_texts(entry), *entry.keywords, entry.answer]))


def uncovered_share(
    analyzer: TextAnalyzer, words: Sequence[str], covered: str, query: str = ""
) -> float:
    """The share of a question's words, weighted by how rare each is in everyday Chinese
    (`TextAnalyzer.rarity`), that an entry's text never uses (1.0 with no words).

    A near miss asks about something next to an entry (土地增值税的**扣除项目**, 一年发
    **两次**年终奖): the encoder places it very close, but words that carry the question are
    missing from the entry. Common words weigh little (到底 9.2, 多少 8.7), rare ones much
    (预缴 16.8, 退票 13.6). A tax name counts only where it stands alone: 增值税 in the
    question (`query`, normalised) is not covered by an entry that only speaks of 土地增值税,
    and a question about 土地增值税 does not ask about 增值税 at all.
    """
    total = 0.0
    missing = 0.0
    for word in dict.fromkeys(words):
        longer = analyzer.longer_entities(word)
        if longer and query and not _names_alone(word, query, longer):
            continue  # only part of a longer tax name in the question
        weight = analyzer.rarity(word)
        total += weight
        if not (_names_alone(word, covered, longer) if longer else word in covered):
            missing += weight
    return missing / total if total > 0.0 else 1.0


def _names_alone(name: str, text: str, longer: Sequence[str]) -> bool:
    """Whether `name` occurs in `text` outside the longer tax names that contain it."""
    for other in longer:
        text = text.replace(other, "|")
    return name in text


_RE_CLAUSE = re.compile(r"[,，。.?？!！;；、:：\s]+")
_RE_ASKS = re.compile(
    r"吗|呢|么|怎|多少|哪|什么|几|能不能|可不可以|是不是|要不要|有没有|如何|咋|啥|(.)不\1|不$|没$"
)
"""A clause that asks (after normalisation: 咋 and 啥 may already read 怎么 and 什么)."""


def _shorten(text: str, limit: int, keep: str) -> str:
    if len(text) <= limit:
        return text
    if keep in ("head_tail", "clauses"):
        head = limit // 2
        return text[:head] + text[len(text) - (limit - head) :]
    return text[:limit]


@dataclass
class QueryAnalysis:
    """How a question was understood (kept for debugging and tests)."""

    normalized: str
    corrected: str
    words: list[str]
    grams: list[str]
    dense_text: str
    entities: list[int]
    clause_text: str = ""
    """A second text for the encoder (`SearchConfig.dense_question_clause`), "" when none."""
    cut: bool = False
    """The encoder's input holds only part of the question's content (fillers removed): it
    was cut to `dense_max_chars` / `dense_max_tokens` (`SearchConfig.decline_below_long`)."""


@dataclass
class ChannelScores:
    """Per-entry scores of each channel, and their weighted fusion in [0, 1]."""

    words: FloatArray
    pinyin: FloatArray
    unit_words: FloatArray
    unit_pinyin: FloatArray
    dense: FloatArray | None
    named: NDArray[np.bool_]
    """False for entries that miss a tax the question names."""
    fused: FloatArray


def group_starts(owner: IntArray) -> IntArray:
    """Start offsets of the runs of equal owners (units are stored grouped by entry)."""
    if len(owner) == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.flatnonzero(np.diff(owner)) + 1
    return np.concatenate(([0], change)).astype(np.int64)


def _max_per_entry(values: FloatArray, owner: IntArray, starts: IntArray, n: int) -> FloatArray:
    out = np.zeros(n, dtype=np.float64)
    if len(values):
        out[owner[starts]] = np.maximum.reduceat(values, starts)
    return out


def fuse(
    config: SearchConfig,
    words: FloatArray,
    pinyin: FloatArray,
    unit_words: FloatArray,
    unit_pinyin: FloatArray,
    dense: FloatArray | None,
) -> FloatArray:
    """Weighted mean of the channels, each clipped to [0, 1] (cosines rescaled first)."""
    parts = [
        (config.weight_words, words),
        (config.weight_pinyin, pinyin),
        (config.weight_unit_words, unit_words),
        (config.weight_unit_pinyin, unit_pinyin),
    ]
    if dense is not None:
        scaled = (dense - config.dense_floor) / (1.0 - config.dense_floor)
        parts.append((config.weight_dense, scaled))
    total = sum(weight for weight, _ in parts)
    fused = np.zeros_like(words)
    for weight, values in parts:
        if weight:
            fused += weight * np.clip(values, 0.0, 1.0)
    return fused / total if total > 0 else fused


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The settings of the three-way decision on one scale of scores."""

    decline_below: float
    answer_above: float
    answer_margin: float
    answer_min_cosine: float
    pair_margin: float
    covered_cosine: float = 2.0
    """Rule (2): cosine at least this and uncovered share at most `max_uncovered` (with
    `answer_margin`); 2.0 = off (the lexical scale has no cosine)."""
    max_uncovered: float = 0.0
    full_cosine: float = 2.0
    """Rule (3): cosine at least this, uncovered share at most `full_uncovered` and a lead of
    `full_margin`."""
    full_uncovered: float = 0.0
    full_margin: float = 0.0
    decline_below_long: float | None = None
    """`decline_below` for a question the encoder saw only part of (`Scored.long`); None:
    the same as `decline_below` (the lexical scale)."""

    def floor(self, long: bool) -> float:
        """The score under which a question is declined."""
        if long and self.decline_below_long is not None:
            return self.decline_below_long
        return self.decline_below


@dataclass(frozen=True, slots=True)
class Scored:
    """A question's scores: every entry's (-1 = not served), the best entry, the runner-up
    (the best entry with a different answer, -1 when none), the encoder's cosine between the
    question and the best entry's closest text (None when the encoder was not run: the
    scores are then of the lexical channels alone, another scale)."""

    scores: FloatArray
    best: int
    runner: int
    cosine: float | None
    uncovered: float = 1.0
    """The share of the question's words the best entry never uses (`uncovered_share`)."""
    long: bool = False
    """The encoder saw only part of the question (`QueryAnalysis.cut`)."""

    @property
    def lexical(self) -> bool:
        return self.cosine is None

    @property
    def score(self) -> float:
        return float(self.scores[self.best])

    @property
    def second(self) -> float:
        return float(self.scores[self.runner]) if self.runner >= 0 else 0.0

    @property
    def margin(self) -> float:
        return self.score - self.second


def classify(
    score: float,
    second: float,
    cosine: float | None,
    limits: Thresholds,
    uncovered: float = 1.0,
    long: bool = False,
) -> tuple[DecisionKind, bool]:
    """The decision on the best score, the runner-up's score, the encoder's cosine for the
    best entry (None: no encoder) and the share of the question's words that the best entry
    never uses (`uncovered_share`), and whether the runner-up is offered too (on confirm):

    - decline when the best score is under `decline_below` (`decline_below_long` for a
      question the encoder saw only part of, `long`);
    - answer when it is at least `answer_above` and (1) it leads the runner-up by
      `answer_margin` and the cosine is at least `answer_min_cosine`, or (2) it leads by
      `answer_margin`, the cosine is at least `covered_cosine` and `uncovered` at most
      `max_uncovered`, or (3) it leads by `full_margin`, the cosine is at least
      `full_cosine` and `uncovered` at most `full_uncovered`; on the lexical scale (no
      cosine) only the lead counts;
    - otherwise confirm the best entry, and the runner-up after it when it trails by less
      than `pair_margin` and is not under that floor itself.
    """
    floor = limits.floor(long)
    if score < floor:
        return DecisionKind.DECLINE, False
    margin = score - second
    if cosine is None:
        agrees = margin >= limits.answer_margin
    else:
        agrees = (
            margin >= limits.answer_margin
            and (
                cosine >= limits.answer_min_cosine
                or (cosine >= limits.covered_cosine and uncovered <= limits.max_uncovered)
            )
        ) or (
            margin >= limits.full_margin
            and cosine >= limits.full_cosine
            and uncovered <= limits.full_uncovered
        )
    if score >= limits.answer_above and agrees:
        return DecisionKind.ANSWER, False
    return DecisionKind.CONFIRM, margin < limits.pair_margin and second >= floor


class SearchEngine:
    """Answers questions from an `IndexData` with a given analyzer and embedder."""

    def __init__(
        self,
        data: IndexData,
        analyzer: TextAnalyzer,
        embedder: Embedder | None,
        config: SearchConfig | None = None,
    ) -> None:
        self.data = data
        self.analyzer = analyzer
        self.config = config or SearchConfig()
        self.embedder = embedder if data.unit_vectors is not None else None
        if self.embedder is not None and self.embedder.name != data.embedder_name:
            raise ValueError("embedder differs from the one the index was built with")
        self.corrector = PhoneticCorrector(
            data.vocabulary, analyzer.cut, analyzer.is_common_word, analyzer.stopwords
        )
        self.by_id = {entry.id: entry for entry in data.entries}
        self._entity_column = {name: i for i, name in enumerate(data.entity_names)}
        self._lex_starts = group_starts(data.lexical_unit_entry)
        self._dense_starts = group_starts(data.unit_entry)
        self._dense_ends = np.append(self._dense_starts[1:], len(data.unit_entry))
        self._n_entries = len(data.entries)
        self._mask_day: date | None = None
        self._mask = np.ones(self._n_entries, dtype=bool)
        self._counter = token_counter(self.embedder)
        answers: dict[str, int] = {}
        self._answer_group = np.array(
            [answers.setdefault(e.answer, len(answers)) for e in data.entries], dtype=np.int64
        )

    def effective_mask(self, today: date) -> NDArray[np.bool_]:
        if self._mask_day != today:
            self._mask = np.array([e.is_effective(today) for e in self.data.entries], dtype=bool)
            self._mask_day = today
        return self._mask

    def analyze(self, query: str) -> QueryAnalysis:
        base = basic_normalize(query)
        corrected = self.corrector.correct(base)
        norm = self.analyzer.synonyms.apply(corrected)
        content = self.analyzer.content_text(norm)
        dense_text = norm if self.config.dense_fillers or not content else content
        clause_text = ""
        if self.config.dense_keep == "clauses" or self.config.dense_question_clause:
            clause_text = self.clause_input(norm)
        whole = dense_text
        if self.config.dense_keep == "clauses":
            full = self.dense_input(dense_text)
            cut = len(full) < len(whole)
            dense_text, clause_text = clause_text or dense_text, (
                full if self.config.dense_question_clause else ""
            )
        else:
            dense_text = self.dense_input(dense_text)
            cut = len(dense_text) < len(whole)
        if clause_text == dense_text:
            clause_text = ""
        return QueryAnalysis(
            normalized=norm,
            corrected=corrected,
            words=self.analyzer.segment(norm),
            grams=pinyin_ngrams(content, self.data.pinyin_n),
            dense_text=dense_text,
            clause_text=clause_text,
            cut=cut,
            entities=[
                self._entity_column[name]
                for name in sorted(self.analyzer.find_entities(norm))
                if name in self._entity_column
            ],
        )

    def dense_input(self, text: str) -> str:
        """The question as the encoder sees it: at most `dense_max_chars` characters and
        `dense_max_tokens` tokens (start and end kept, see `dense_keep`)."""
        config = self.config
        text = _shorten(text, config.dense_max_chars, config.dense_keep)
        counter = self._counter
        if counter is None or config.dense_max_tokens <= 0:
            return text
        if counter.token_count(text) <= config.dense_max_tokens:
            return text
        budget, keep = config.dense_max_tokens, config.dense_keep
        low, high = 0, len(text) - 1  # longest cut within the budget (binary search)
        while low < high:
            middle = (low + high + 1) // 2
            if counter.token_count(_shorten(text, middle, keep)) <= budget:
                low = middle
            else:
                high = middle - 1
        return _shorten(text, low, keep)

    def clause_input(self, norm: str) -> str:
        """The question's clauses that fit the encoder's budget, fillers removed: the
        question clause first, then its neighbours nearest first ("" when the question has
        one clause only, or none that asks)."""
        clauses = [c for c in _RE_CLAUSE.split(norm) if c]
        if len(clauses) < 2:
            return ""
        asking = [i for i, c in enumerate(clauses) if _RE_ASKS.search(c)]
        focus = asking[-1] if asking else len(clauses) - 1
        contents = [self.analyzer.content_text(c) for c in clauses]
        order = sorted(range(len(clauses)), key=lambda i: (abs(i - focus), i > focus))
        chosen: list[int] = []
        for i in order:
            if not contents[i]:
                continue
            trial = "".join(contents[j] for j in sorted([*chosen, i]))
            if chosen and not self._fits(trial):
                continue
            chosen.append(i)
        text = "".join(contents[j] for j in sorted(chosen))
        return self.dense_input(text) if text else ""

    def _fits(self, text: str) -> bool:
        config = self.config
        if len(text) > config.dense_max_chars:
            return False
        counter = self._counter
        if counter is None or config.dense_max_tokens <= 0:
            return True
        return counter.token_count(text) <= config.dense_max_tokens

    def lexically_decisive(self, lexical: FloatArray) -> bool:
        """Whether the lexical channels alone already pick the answer with a large margin."""
        config = self.config
        if len(lexical) == 0 or config.lexical_decisive_margin > 1.0:
            return False
        best = int(np.argmax(lexical))
        if lexical[best] < config.lexical_decisive:
            return False
        others = np.where(self._answer_group == self._answer_group[best], -1.0, lexical)
        return bool(lexical[best] - others.max() >= config.lexical_decisive_margin)

    def channel_scores(
        self, analysis: QueryAnalysis, mask: NDArray[np.bool_] | None = None
    ) -> ChannelScores:
        """Every channel for every entry; `mask` (served entries) only matters for the
        decision to skip the encoder. `dense` is None when it was skipped."""
        data = self.data
        n = self._n_entries
        words = data.words.coverage(analysis.words)
        pinyin = data.pinyin.coverage(analysis.grams)
        unit_words = _max_per_entry(
            data.unit_words.coverage(analysis.words), data.lexical_unit_entry, self._lex_starts, n
        )
        unit_pinyin = _max_per_entry(
            data.unit_pinyin.coverage(analysis.grams), data.lexical_unit_entry, self._lex_starts, n
        )
        named: NDArray[np.bool_] = np.ones(n, dtype=bool)
        if analysis.entities:
            named = np.asarray(data.entry_entities[:, analysis.entities].all(axis=1), dtype=bool)
        penalty = np.where(named, 1.0, self.config.entity_penalty) if analysis.entities else None
        dense: FloatArray | None = None
        if self.embedder is not None and data.unit_vectors is not None:
            lexical = fuse(self.config, words, pinyin, unit_words, unit_pinyin, None)
            if penalty is not None:
                lexical = lexical * penalty
            if self.lexically_decisive(lexical if mask is None else np.where(mask, lexical, -1.0)):
                return ChannelScores(words, pinyin, unit_words, unit_pinyin, None, named, lexical)
            vector = self.embedder.encode([analysis.dense_text])[0]
            dense = self._dense_scores(vector, unit_words + unit_pinyin)
            if analysis.clause_text:
                second = self.embedder.encode([analysis.clause_text])[0]
                dense = np.maximum(dense, self._dense_scores(second, unit_words + unit_pinyin))
        fused = fuse(self.config, words, pinyin, unit_words, unit_pinyin, dense)
        if penalty is not None:
            fused = fused * penalty
        return ChannelScores(words, pinyin, unit_words, unit_pinyin, dense, named, fused)

    def _dense_scores(self, vector: Matrix, lexical: FloatArray) -> FloatArray:
        """Best cosine between the question and each entry's texts.

        On large bases the entry centroids (mean of an entry's text vectors) pick candidates
        together with the best lexical entries; only their texts are compared exactly, the
        other entries keep their (lower) centroid cosine.
        """
        data = self.data
        assert data.unit_vectors is not None
        n = self._n_entries
        units = data.unit_vectors
        if len(units) <= self.config.dense_exact_units or data.entry_centroids is None:
            sims = (units @ vector).astype(np.float64)
            dense = np.full(n, -1.0, dtype=np.float64)
            dense[data.unit_entry[self._dense_starts]] = np.maximum.reduceat(
                sims, self._dense_starts
            )
            return dense
        dense = (data.entry_centroids @ vector).astype(np.float64)
        k = min(self.config.dense_candidates, n)
        candidates = np.union1d(
            np.argpartition(-dense, k - 1)[:k], np.argpartition(-lexical, k - 1)[:k]
        )
        starts = self._dense_starts[candidates]
        ends = self._dense_ends[candidates]
        lengths = ends - starts
        rows = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        sims = (units[rows] @ vector).astype(np.float64)
        offsets = np.cumsum(lengths) - lengths
        dense[candidates] = np.maximum.reduceat(sims, offsets)
        return dense

    def scored(self, query: str, today: date) -> Scored | None:
        """Every served entry's score for a question, its best entry and the runner-up (the
        best entry with a different answer); None when there is nothing to score."""
        if not query.strip() or self._n_entries == 0:
            return None
        analysis = self.analyze(query)
        if not analysis.words and not analysis.grams:
            return None
        mask = self.effective_mask(today)
        channels = self.channel_scores(analysis, mask)
        scores = np.where(mask, channels.fused, -1.0)
        best = int(np.argmax(scores))
        if scores[best] < 0.0:
            return None
        others = np.where(self._answer_group == self._answer_group[best], -1.0, scores)
        runner = int(np.argmax(others))
        cosine = None if channels.dense is None else float(channels.dense[best])
        uncovered = uncovered_share(
            self.analyzer, analysis.words, self.data.coverage_texts[best], analysis.normalized
        )
        return Scored(scores, best, runner if others[runner] >= 0.0 else -1, cosine, uncovered,
                      analysis.cut and cosine is not None)

    def _result(self, index: int, scores: FloatArray) -> SearchResult:
        entry = self.data.entries[index]
        return SearchResult(id=entry.id, score=float(scores[index]), question=entry.question)

    def decide(self, query: str, top: int, today: date) -> Decision:
        """Answer, confirm or decline (`classify`; docs/kb.md, "The decision")."""
        found = self.scored(query, today) if top > 0 else None
        if found is None:
            return Decision(query, DecisionKind.DECLINE)
        limits = self.config.thresholds(found.lexical)
        kind, pair = classify(found.score, found.second, found.cosine, limits, found.uncovered,
                              found.long)
        scores = found.scores
        if kind is DecisionKind.DECLINE:
            results: list[SearchResult] = []
        elif kind is DecisionKind.ANSWER:
            results = self._ranked(scores, top)
        else:
            results = [self._result(found.best, scores)]
            if pair and top > 1:
                results.append(self._result(found.runner, scores))
        return Decision(query, kind, tuple(results), found.score, found.margin)

    def _ranked(self, scores: FloatArray, top: int) -> list[SearchResult]:
        count = min(top, self._n_entries)
        best = np.argpartition(-scores, count - 1)[:count]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [self._result(int(i), scores) for i in best if scores[i] >= 0.0]

    def rank(self, query: str, top: int, today: date) -> list[SearchResult]:
        """The best `top` served entries, without the decision (for evaluation)."""
        found = self.scored(query, today) if top > 0 else None
        return [] if found is None else self._ranked(found.scores, top)
