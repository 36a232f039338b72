"""Menu phrases matched on sound: a free-form transcript -> the phrase the caller said.

Whisper transcribes freely, so a caller saying 人工服务 may come back as 剪功服务 and 纳税申报
as 纳税宪报: the right sounds, the wrong characters. Both sides are compared as toneless
pinyin with the usual recogniser and accent confusions merged (zh/z, ch/c, sh/s, n/l, -ng/-n:
``knowledge_base.text.fuzzy_syllable``), by an alignment that lets the phrase sit anywhere in
the transcript (我要人工服务) and gives partial credit to a syllable heard almost right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from knowledge_base.text import fuzzy_syllable, to_syllables

MIN_SCORE = 0.6     # 1 = every syllable of the phrase heard, in order
MIN_MARGIN = 0.1    # over the next best phrase: an ambiguous transcript names none


@dataclass(frozen=True)
class PhraseMatch:
    phrase: str
    score: float    # 0..1


@lru_cache(maxsize=4096)
def syllables(text: str) -> tuple[str, ...]:
    return tuple(fuzzy_syllable(s) for s in to_syllables(text))


def edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance of two sequences (of characters or syllables)."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1,
                                           previous + (ca != cb))
    return row[-1]


def _substitution(a: str, b: str) -> float:
    """0 for the same syllable, up to 1 for unrelated ones (spelling distance of pinyin)."""
    if a == b:
        return 0.0
    return min(1.0, edit_distance(a, b) / max(len(a), len(b)))


def score(phrase: Sequence[str], heard: Sequence[str]) -> float:
    """How well the syllables ``phrase`` occur in ``heard``: 1 - the cheapest alignment of
    the whole phrase against any stretch of ``heard`` (a missed, extra or changed syllable
    costs up to 1), per phrase syllable."""
    if not phrase:
        return 0.0
    # cost[j]: the best alignment of phrase[:i] ending at heard[:j]; free start in heard
    cost = [0.0] * (len(heard) + 1)
    for i, p in enumerate(phrase, 1):
        previous, cost[0] = cost[0], float(i)
        for j, h in enumerate(heard, 1):
            previous, cost[j] = cost[j], min(cost[j] + 1.0,              # phrase syllable lost
                                             cost[j - 1] + 1.0,          # extra heard syllable
                                             previous + _substitution(p, h))
    return max(0.0, 1.0 - min(cost) / len(phrase))  # free end in heard


def match_on_pinyin(text: str, phrases: Sequence[str], min_score: float = MIN_SCORE,
                    min_margin: float = MIN_MARGIN) -> PhraseMatch | None:
    """The phrase ``text`` names: written inside it, or else the best sound match when it is
    good enough and clearly ahead of the next; None otherwise."""
    cleaned = "".join(text.split())
    written = [p for p in phrases if p and "".join(p.split()) in cleaned]
    if written:
        return PhraseMatch(max(written, key=len), 1.0)
    heard = syllables(cleaned)
    if not heard:
        return None
    ranked = sorted(((score(syllables(p), heard), p) for p in phrases), reverse=True)
    if not ranked or ranked[0][0] < min_score:
        return None
    if len(ranked) > 1 and ranked[0][0] - ranked[1][0] < min_margin:
        return None
    return PhraseMatch(ranked[0][1], round(ranked[0][0], 3))
