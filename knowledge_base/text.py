"""Text normalisation for FAQ search: width, case, Hanzi numbers, synonyms, tokens and pinyin.

Everything here is deterministic and applied identically to the indexed entries and to the
callers' questions, so that the two sides always meet in the same canonical form.
"""

from __future__ import annotations

import functools
import logging
import marshal
import math
import re
import tempfile
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import jieba
from pypinyin import Style, lazy_pinyin

RESOURCES_DIR = Path(__file__).resolve().parent / "resources"

_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}  # fmt: skip
_SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
_BIG_UNITS = {"万": 10_000, "亿": 100_000_000}
_NUM_CHARS = "零〇一幺二两三四五六七八九十百千万亿"
_NUMBER = f"[零〇一幺二两三四五六七八九十][{_NUM_CHARS}]*(?:点[零〇一二三四五六七八九]+)?"
# Counting units after which a Hanzi number is certainly a quantity ("三十万元", "两千块").
_QUANTITY_UNIT = "元块角岁个年月日号天周平米倍%人套辆台张份笔季"
_RE_FRACTION = re.compile(f"(百|千|万)分之({_NUMBER})")
_RE_QUANTITY = re.compile(f"({_NUMBER})(?=(?:多|余|来)?[{_QUANTITY_UNIT}万亿])")
_RE_DIGIT_RUN = re.compile("[零〇一幺二三四五六七八九]{3,}")
_RE_SPACES = re.compile(r"\s+")
_RE_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
_FRACTION_SIGN = {"百": "%", "千": "‰", "万": "‱"}

UNKNOWN_WORD_RARITY = 12.0
"""`TextAnalyzer.rarity` of a word jieba's general dictionary does not know (domain
compounds such as 扣除率, or debris of a misrecognised phrase): about as informative as a
word used once in a few hundred thousand (海关 11.2, 期限 10.7)."""

_LOG = logging.getLogger(__name__)
_BASE_LOCK = threading.Lock()
_BASE_DICTIONARY: tuple[dict[str, int], int] | None = None


def _new_tokenizer() -> jieba.Tokenizer:
    """A private jieba tokenizer; jieba's main dictionary is read once per process."""
    global _BASE_DICTIONARY
    with _BASE_LOCK:
        if _BASE_DICTIONARY is None:
            _BASE_DICTIONARY = _base_dictionary()
        freq, total = _BASE_DICTIONARY
    tokenizer = jieba.Tokenizer()
    tokenizer.FREQ = dict(freq)
    tokenizer.total = total
    tokenizer.initialized = True
    return tokenizer


def _general_dictionary() -> tuple[dict[str, int], int]:
    """jieba's general dictionary as read for the tokenizers (word counts, their total)."""
    global _BASE_DICTIONARY
    with _BASE_LOCK:
        if _BASE_DICTIONARY is None:
            _BASE_DICTIONARY = _base_dictionary()
        return _BASE_DICTIONARY


def _base_dictionary() -> tuple[dict[str, int], int]:
    """jieba's prefix dictionary (498k entries), from the cache file jieba keeps for it.

    Read as bytes then unmarshalled: jieba's own `marshal.load(file)` reads the file object
    piece by piece and takes ~1.4 s on the project's VM, this takes ~0.3 s. Without a usable
    cache jieba builds the dictionary and writes the cache, as it always does.
    """
    jieba.setLogLevel(logging.WARNING)
    base = jieba.Tokenizer()
    if base.dictionary == jieba.DEFAULT_DICT and not base.cache_file:
        cache = Path(base.tmp_dir or tempfile.gettempdir()) / "jieba.cache"
        try:
            freq, total = marshal.loads(cache.read_bytes())
            if isinstance(freq, dict) and isinstance(total, int) and freq:
                return freq, total
        except (OSError, EOFError, ValueError, TypeError):
            pass  # missing or damaged: jieba rebuilds it below
    base.initialize()
    return base.FREQ, base.total


def hanzi_to_number(text: str) -> str | None:
    """Convert a Hanzi numeral ("三百四十五", "两万", "一点五", "十二") to Arabic digits.

    Returns None when the text is not a well-formed numeral. Multiples of 10,000 keep the
    万 unit ("三十万" -> "30万") because amounts are written that way in the entries.
    """
    if not text:
        return None
    integer_part, _, decimal_part = text.partition("点")
    value = _parse_integer(integer_part) if integer_part else 0
    if value is None:
        return None
    if decimal_part:
        digits = [_DIGITS.get(ch) for ch in decimal_part]
        if any(d is None for d in digits):
            return None
        return f"{value}." + "".join(str(d) for d in digits)
    if value >= 10_000 and value % 10_000 == 0 and text.endswith("万"):
        return f"{value // 10_000}万"
    return str(value)


def _parse_integer(text: str) -> int | None:
    if all(ch in _DIGITS for ch in text):
        if len(text) == 1:
            return _DIGITS[text]
        return int("".join(str(_DIGITS[ch]) for ch in text))  # digit by digit: "一二三六六"
    total = 0
    section = 0
    number = 0
    pending = False
    for ch in text:
        if ch in _DIGITS:
            number = _DIGITS[ch]
            pending = True
        elif ch in _SMALL_UNITS:
            section += (number if pending else 1) * _SMALL_UNITS[ch]
            number = 0
            pending = False
        elif ch in _BIG_UNITS:
            section += number
            total = (total + section) * _BIG_UNITS[ch]
            section = 0
            number = 0
            pending = False
        else:
            return None
    return total + section + number


def normalize_numbers(text: str) -> str:
    """Rewrite Hanzi numbers that denote quantities: 百分之三 -> 3%, 三十万元 -> 30万元."""

    def fraction(match: re.Match[str]) -> str:
        number = hanzi_to_number(match.group(2))
        if number is None:
            return match.group(0)
        return number + _FRACTION_SIGN[match.group(1)]

    def quantity(match: re.Match[str]) -> str:
        number = hanzi_to_number(match.group(1))
        return match.group(0) if number is None else number

    def digit_run(match: re.Match[str]) -> str:
        return "".join(str(_DIGITS[ch]) for ch in match.group(0))

    text = _RE_FRACTION.sub(fraction, text)
    text = _RE_DIGIT_RUN.sub(digit_run, text)
    return _RE_QUANTITY.sub(quantity, text)


def basic_normalize(text: str) -> str:
    """NFKC (full width -> half width), lower case, collapsed spaces, Hanzi numbers."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _RE_SPACES.sub(" ", text).strip()
    return normalize_numbers(text)


def _read_lines(path: Path) -> list[str]:
    lines: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if line:
            lines.append(line)
    return lines


def load_synonyms(path: Path) -> dict[str, str]:
    """Read `canonical = variant, variant` lines into a variant -> canonical map."""
    mapping: dict[str, str] = {}
    for line in _read_lines(path):
        canonical, sep, variants = line.partition("=")
        if not sep:
            raise ValueError(f"{path}: bad synonym line (no '='): {line!r}")
        canon = basic_normalize(canonical)
        mapping.setdefault(canon, canon)
        for variant in variants.split(","):
            norm = basic_normalize(variant)
            if norm and norm != canon:
                mapping[norm] = canon
    return mapping


KEPT_WORDS = (
    "这个", "那个", "哪个", "每个", "各个", "整个", "几个", "两个",
    *(f"{digit}个" for digit in range(10)),
)
"""Words a variant must not be matched across: 这个税率 is not 这个人所得税率, 那个税控盘 not
那个人所得税控盘 (个税 = 个人所得税). Kept as they are and skipped by the rewriting; a longer
variant starting with one of them (哪个地方 = 哪里) still wins."""


class SynonymMap:
    """Single-pass, longest-first rewriting of variants to their canonical form, never across
    one of `kept` (matched like a variant, left as it is)."""

    def __init__(self, mapping: dict[str, str], kept: Sequence[str] = KEPT_WORDS) -> None:
        self.mapping = dict(mapping)
        self._rewrite = {**{word: word for word in kept}, **self.mapping}
        keys = sorted(self._rewrite, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(k) for k in keys)) if keys else None

    def apply(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self._rewrite[m.group(0)], text)

    def canonical_forms(self) -> set[str]:
        return set(self.mapping.values())


def _lazy_pinyin(text: str, split_other: bool) -> list[str]:
    """Toneless pinyin; non-Hanzi runs kept whole, or split into characters."""
    keep: Callable[[str], Any] = (lambda s: list(s)) if split_other else (lambda s: [s])
    return [str(item) for item in lazy_pinyin(text, style=Style.NORMAL, errors=cast(Any, keep))]


def to_syllables(text: str) -> list[str]:
    """Toneless pinyin, one item per Hanzi; other characters kept as runs (digits, latin)."""
    return list(_syllables(text))


@functools.lru_cache(maxsize=1 << 16)
def _syllables(text: str) -> tuple[str, ...]:
    # A pure function of the text (pypinyin's own dictionaries, never extended here), kept
    # across index builds: a reload after one entry's edit converts only that entry's texts
    # again (about half of a rebuild's time was pinyin of unchanged texts).
    out: list[str] = []
    for item in _lazy_pinyin(text, split_other=False):
        if _RE_PUNCT.fullmatch(item):
            continue
        out.extend(part for part in _RE_PUNCT.split(item) if part)
    return tuple(out)


_FUZZY_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"))
_FUZZY_FINALS = (("ang", "an"), ("eng", "en"), ("ing", "in"))


def fuzzy_syllable(syllable: str) -> str:
    """Merge the confusions most common in speech recognition and regional accents."""
    for src, dst in _FUZZY_INITIALS:
        if syllable.startswith(src):
            syllable = dst + syllable[len(src) :]
            break
    if syllable.startswith("n") and not syllable.startswith("ng"):
        syllable = "l" + syllable[1:]
    for src, dst in _FUZZY_FINALS:
        if syllable.endswith(src):
            syllable = syllable[: -len(src)] + dst
            break
    return syllable


def pinyin_ngrams(text: str, n: int = 2) -> list[str]:
    """Fuzzy toneless pinyin n-grams over the Hanzi of `text` (segmentation-independent)."""
    syllables = [fuzzy_syllable(s) for s in to_syllables(text)]
    if len(syllables) < n:
        return ["~".join(syllables)] if syllables else []
    return ["~".join(syllables[i : i + n]) for i in range(len(syllables) - n + 1)]


@dataclass
class TextAnalyzer:
    """Normalise, rewrite synonyms, correct homophones and segment with a tax dictionary."""

    synonyms: SynonymMap
    stopwords: frozenset[str]
    user_words: tuple[str, ...]
    entities: tuple[str, ...] = ()
    entity_masks: tuple[str, ...] = ()
    """Compounds that contain an entity name without being about it (增值税专用发票)."""
    _tokenizer: jieba.Tokenizer = field(init=False, repr=False)
    _entity_pattern: re.Pattern[str] | None = field(init=False, repr=False, default=None)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)
    _added: set[str] = field(init=False, repr=False, default_factory=set)
    _longer_entities: dict[str, tuple[str, ...]] = field(init=False, repr=False,
                                                         default_factory=dict)
    _general: tuple[dict[str, int], int] = field(init=False, repr=False, default=({}, 1))

    def __post_init__(self) -> None:
        self._tokenizer = _new_tokenizer()
        for word in self.user_words:
            self._tokenizer.add_word(word, freq=None)
        for word in self.synonyms.canonical_forms():
            if len(word) > 1:
                self._tokenizer.add_word(word, freq=None)
        by_length = sorted(set(self.entities), key=len, reverse=True)
        self._longer_entities = {
            name: longer
            for name in by_length
            if (longer := tuple(e for e in by_length if e != name and name in e))
        }
        self._general = _general_dictionary()
        if self.entities or self.entity_masks:
            names = sorted(set(self.entities) | set(self.entity_masks), key=len, reverse=True)
            self._entity_pattern = re.compile("|".join(re.escape(n) for n in names))

    @classmethod
    def from_resources(cls, directory: Path = RESOURCES_DIR) -> TextAnalyzer:
        synonyms = SynonymMap(load_synonyms(directory / "synonyms.txt"))
        stopwords = frozenset(basic_normalize(w) for w in _read_lines(directory / "stopwords.txt"))
        words = tuple(
            basic_normalize(w.split()[0]) for w in _read_lines(directory / "userdict.txt")
        )
        names = [
            synonyms.apply(basic_normalize(w)) for w in _read_lines(directory / "entities.txt")
        ]
        return cls(
            synonyms=synonyms,
            stopwords=stopwords,
            user_words=words,
            entities=tuple(n for n in names if not n.startswith("!")),
            entity_masks=tuple(n[1:] for n in names if n.startswith("!")),
        )

    def find_entities(self, normalized: str) -> set[str]:
        """Topic entities (tax names) named in an already normalised text, longest first."""
        if self._entity_pattern is None:
            return set()
        masks = set(self.entity_masks)
        return {name for name in self._entity_pattern.findall(normalized) if name not in masks}

    def expand_entities(self, found: set[str]) -> set[str]:
        """Add the shorter names that the found ones contain (企业所得税 -> 所得税)."""
        return found | {e for e in self.entities for f in found if e in f}

    def add_words(self, words: Iterable[str]) -> None:
        """Teach the segmenter domain words (e.g. entry keywords)."""
        with self._lock:
            for word in dict.fromkeys(words):
                if len(word) > 1 and word not in self._added:
                    self._tokenizer.add_word(word, freq=None)
                    self._added.add(word)

    def longer_entities(self, name: str) -> tuple[str, ...]:
        """The tax names that contain `name` (增值税 -> 土地增值税), longest first; empty for
        a word that is not a tax name."""
        return self._longer_entities.get(name, ())

    def rarity(self, word: str) -> float:
        """How informative a word is in everyday Chinese: -log of its share in jieba's
        general dictionary (到底 9.2, 多少 8.7, 海关 11.2, 预缴 16.8), `UNKNOWN_WORD_RARITY`
        for a word it does not know. The general dictionary, not the base's own texts, so
        that the weight does not depend on the entries."""
        freq, total = self._general
        count = freq.get(word, 0)
        return math.log(total / count) if count > 0 else UNKNOWN_WORD_RARITY

    def is_common_word(self, word: str) -> bool:
        """Whether jieba's general dictionary knows `word` (used to spot recognition errors)."""
        with self._lock:
            self._tokenizer.check_initialized()
            return bool(self._tokenizer.FREQ.get(word))

    def normalize(self, text: str) -> str:
        """Canonical text: width/case/numbers normalised, synonyms rewritten."""
        return self.synonyms.apply(basic_normalize(text))

    def segment(self, normalized: str) -> list[str]:
        """Search-mode words of an already normalised text, without fillers and punctuation."""
        with self._lock:
            words = self._tokenizer.lcut_for_search(normalized)
        return [
            w for w in words if w.strip() and not _RE_PUNCT.fullmatch(w) and w not in self.stopwords
        ]

    def cut(self, text: str) -> list[str]:
        """Plain (non-overlapping) segmentation, every character kept."""
        with self._lock:
            return [str(w) for w in self._tokenizer.lcut(text)]

    def content_text(self, normalized: str) -> str:
        """The normalised text without filler words (input of the pinyin channel)."""
        with self._lock:
            words = self._tokenizer.lcut(normalized)
        return "".join(w for w in words if w not in self.stopwords and not _RE_PUNCT.fullmatch(w))


class PhoneticCorrector:
    """Replace misrecognised spans by an in-vocabulary word with the same toneless pinyin.

    "数点发飘" -> "数电发票": speech recognisers produce homophones that segmentation then
    splits into stray single characters or unknown words; the vocabulary of the knowledge
    base tells which homophone was meant. Only spans aligned on segmentation boundaries and
    holding a suspicious token (a lone content character or an unknown word) are replaced, so
    correct words are left alone.
    """

    def __init__(
        self,
        vocabulary: dict[str, int],
        segment: Callable[[str], list[str]],
        is_common_word: Callable[[str], bool] = lambda _: False,
        stopwords: frozenset[str] = frozenset(),
        max_len: int = 6,
    ) -> None:
        self.max_len = max_len
        self.segment = segment
        self.is_common_word = is_common_word
        self.stopwords = stopwords
        self.vocabulary = set(vocabulary)
        best: dict[tuple[str, ...], tuple[int, str]] = {}
        for word, count in vocabulary.items():
            if not 2 <= len(word) <= max_len or not all("\u4e00" <= c <= "\u9fff" for c in word):
                continue
            key = tuple(fuzzy_syllable(s) for s in to_syllables(word))
            if len(key) != len(word):
                continue
            if key not in best or best[key][0] < count:
                best[key] = (count, word)
        self._by_sound = {key: word for key, (_, word) in best.items()}

    def _suspicious(self, token: str) -> bool:
        if token in self.stopwords or token in self.vocabulary:
            return False
        if len(token) == 1:
            return "\u4e00" <= token <= "\u9fff"
        return not self.is_common_word(token)

    def correct(self, text: str) -> str:
        """Greedy longest match of homophones over token-aligned spans."""
        if not self._by_sound or not text:
            return text
        syllables = _lazy_pinyin(text, split_other=True)
        if len(syllables) != len(text):
            return text
        keys = [fuzzy_syllable(s) for s in syllables]
        tokens = self.segment(text)
        if "".join(tokens) != text:
            return text
        starts: list[int] = []
        position = 0
        for token in tokens:
            starts.append(position)
            position += len(token)
        out: list[str] = []
        t = 0
        while t < len(tokens):
            replaced = False
            for u in range(len(tokens), t, -1):  # span = tokens[t:u], longest first
                i, j = starts[t], starts[t] + sum(len(x) for x in tokens[t:u])
                if j - i > self.max_len or j - i < 2:
                    continue
                span = text[i:j]
                if span in self.vocabulary:
                    continue
                word = self._by_sound.get(tuple(keys[i:j]))
                if word is None or word == span or not self._allowed(tokens[t:u], span, word):
                    continue
                out.append(word)
                t = u
                replaced = True
                break
            if not replaced:
                out.append(tokens[t])
                t += 1
        return "".join(out)

    def _allowed(self, tokens: list[str], span: str, word: str) -> bool:
        if any(tok in self.stopwords for tok in tokens):
            return False
        if len(tokens) == 1:
            # One real word ("漏水" for "漏税"): only when the homophone shares a character.
            token = tokens[0]
            return not self.is_common_word(token) or any(c in word for c in token)
        # Several tokens: a stray character or unknown word among them, or a sound match of
        # three syllables or more with a domain word ("有意义" -> "有异议"), rarely chance.
        return len(span) >= 3 or any(self._suspicious(tok) for tok in tokens)


def join_tokens(tokens: Sequence[str]) -> str:
    return " ".join(tokens)
