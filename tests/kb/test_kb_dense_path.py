"""The encoder's input cap and the lexical short cut (the two latency measures), with a fake
embedder: fast and independent of the bundled model."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np

from knowledge_base import KnowledgeBase, SearchConfig
from knowledge_base.embedding import CachedEmbedder, Matrix, token_counter

from .conftest import GOOD_ENTRIES, WriteData


class FakeEmbedder:
    """One token per character plus 6 (like `query: ` and the special tokens of E5)."""

    name = "fake-embedder"

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def token_count(self, text: str) -> int:
        return len(text) + 6

    def encode(self, texts: Sequence[str]) -> Matrix:
        self.encoded.extend(texts)
        rows = []
        for text in texts:
            seed = int(hashlib.md5(text.encode()).hexdigest()[:8], 16)
            vector = np.random.default_rng(seed).normal(size=16)
            rows.append(vector / np.linalg.norm(vector))
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), 16)


def _load(
    data_dir: Path, tmp_path: Path, embedder: FakeEmbedder, config: SearchConfig
) -> KnowledgeBase:
    return KnowledgeBase.load(
        data_dir,
        cache_dir=tmp_path / "cache",
        spec_path=None,
        embedder=embedder,
        config=config,
        clock=lambda: date(2026, 11, 28),
    )


def test_encoder_input_is_capped_in_tokens(
    data_dir: Path, write_data: WriteData, tmp_path: Path
) -> None:
    write_data("a.yaml", GOOD_ENTRIES)
    config = SearchConfig(dense_max_chars=32, dense_max_tokens=16, lexical_decisive_margin=2.0)
    kb = _load(data_dir, tmp_path, FakeEmbedder(), config)
    engine = kb._engine()
    short = engine.analyze("增值税税率")
    assert short.dense_text == "增值税税率"
    long = engine.analyze("一般纳税人销售货物适用的增值税税率到底是百分之几呢还有没有别的档次")
    assert len(long.dense_text) == 10  # 16 tokens - 6
    assert long.dense_text.startswith("一般纳税人")  # start and end kept
    assert long.dense_text.endswith("别的档次")
    uncapped = SearchConfig(dense_max_chars=32, dense_max_tokens=0)
    engine.config = uncapped
    assert len(engine.analyze("一般纳税人销售货物适用的增值税税率到底是百分之几呢").dense_text) > 10


def test_lexically_decisive_questions_skip_the_encoder(
    data_dir: Path, write_data: WriteData, tmp_path: Path
) -> None:
    write_data("a.yaml", GOOD_ENTRIES)
    embedder = FakeEmbedder()
    short_cut = SearchConfig(lexical_decisive=0.65, lexical_decisive_margin=0.15)
    kb = _load(data_dir, tmp_path, embedder, short_cut)
    embedder.encoded.clear()
    results = kb.search("个人所得税的起征点是多少", top=3)
    assert results
    assert results[0].id == "t.iit.threshold"
    assert embedder.encoded == []  # every word matches one entry: no encoder needed
    kb.search("今天晚上吃什么好", top=3)
    assert len(embedder.encoded) == 1  # no lexical evidence: the dense channel decides


def test_short_cut_is_off_by_default(
    data_dir: Path, write_data: WriteData, tmp_path: Path
) -> None:
    write_data("a.yaml", GOOD_ENTRIES)
    embedder = FakeEmbedder()
    kb = _load(data_dir, tmp_path, embedder, SearchConfig())
    embedder.encoded.clear()
    kb.search("个人所得税的起征点是多少", top=3)
    assert len(embedder.encoded) == 1  # the decision needs the encoder's cosine
    assert kb._engine().scored("个人所得税的起征点是多少", date(2026, 11, 28)) is not None


def test_token_counter_is_found_behind_the_query_cache() -> None:
    inner = FakeEmbedder()
    assert token_counter(inner) is inner
    assert token_counter(CachedEmbedder(inner, 8)) is inner
    assert token_counter(None) is None
