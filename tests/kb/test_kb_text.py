"""Normalisation units: numbers, synonyms, pinyin, homophone correction."""

from __future__ import annotations

import marshal
import tempfile
from pathlib import Path

import pytest

from knowledge_base.text import (
    PhoneticCorrector,
    TextAnalyzer,
    _base_dictionary,
    basic_normalize,
    fuzzy_syllable,
    hanzi_to_number,
    normalize_numbers,
    pinyin_ngrams,
)


@pytest.fixture(scope="module")
def analyzer() -> TextAnalyzer:
    return TextAnalyzer.from_resources()


@pytest.mark.parametrize(
    ("hanzi", "digits"),
    [
        ("三", "3"),
        ("十二", "12"),
        ("一百四十", "140"),
        ("三百四十五", "345"),
        ("两千", "2000"),
        ("三十万", "30万"),
        ("一点五", "1.5"),
        ("一二三六六", "12366"),
    ],
)
def test_hanzi_to_number(hanzi: str, digits: str) -> None:
    assert hanzi_to_number(hanzi) == digits


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("百分之三", "3%"),
        ("征收率是百分之一还是百分之三", "征收率是1%还是3%"),
        ("万分之五", "5‱"),
        ("季度超了三十万", "季度超了30万"),
        ("劳务报酬三千块钱", "劳务报酬3000块钱"),
        ("一百四十平以上", "140平以上"),
        ("拨打一二三六六", "拨打12366"),
        # Words that merely contain numerals stay as they are.
        ("一般纳税人", "一般纳税人"),
        ("六税两费", "六税两费"),
        ("三方协议", "三方协议"),
        ("万元", "万元"),
    ],
)
def test_normalize_numbers(text: str, expected: str) -> None:
    assert normalize_numbers(text) == expected


def test_basic_normalize_width_and_case() -> None:
    assert basic_normalize("个税ＡＰＰ　注册１２３６６％") == "个税app 注册12366%"


@pytest.mark.parametrize(
    ("variant", "canonical"),
    [
        ("个税", "个人所得税"),
        ("数电票", "数电发票"),
        ("全电发票", "数电发票"),
        ("专票", "增值税专用发票"),
        ("普票", "增值税普通发票"),
        ("社保", "社会保险费"),
        ("城建税", "城市维护建设税"),
        ("年终奖", "全年一次性奖金"),
    ],
)
def test_synonyms_rewrite_to_canonical(
    analyzer: TextAnalyzer, variant: str, canonical: str
) -> None:
    assert analyzer.normalize(variant) == canonical


def test_synonyms_keep_longer_terms_intact(analyzer: TextAnalyzer) -> None:
    # The canonical form contains no variant rewrite loop and longer terms win.
    assert analyzer.normalize("个人所得税") == "个人所得税"
    assert analyzer.normalize("小规模纳税人") == "小规模纳税人"
    assert analyzer.normalize("个税APP") == "个人所得税app"
    assert analyzer.normalize("专票和普票的区别") == "增值税专用发票和增值税普通发票的区别"


def test_segment_drops_fillers(analyzer: TextAnalyzer) -> None:
    words = analyzer.segment(analyzer.normalize("请问一下那个个税起征点是多少啊"))
    assert "个人所得税" in words
    assert "起征点" in words
    assert not {"请问", "一下", "那个", "啊"} & set(words)


def test_homophones_share_pinyin_ngrams() -> None:
    assert pinyin_ngrams("发飘") == pinyin_ngrams("发票")
    assert pinyin_ngrams("深报") == pinyin_ngrams("申报")
    assert pinyin_ngrams("房铲税") == pinyin_ngrams("房产税")


def test_fuzzy_syllables_merge_common_confusions() -> None:
    assert fuzzy_syllable("shen") == fuzzy_syllable("sen")
    assert fuzzy_syllable("zhang") == fuzzy_syllable("zan")
    assert fuzzy_syllable("ning") == fuzzy_syllable("lin")


def test_phonetic_corrector_fixes_asr_homophones(analyzer: TextAnalyzer) -> None:
    vocabulary = {w: 1 for w in ["数电发票", "发票", "申报", "退税", "进度", "专项附加扣除"]}
    corrector = PhoneticCorrector(
        vocabulary, analyzer.cut, analyzer.is_common_word, analyzer.stopwords
    )
    assert corrector.correct("数点发飘") == "数电发票"
    assert corrector.correct("出口推税") == "出口退税"
    assert corrector.correct("查办理禁度") == "查办理进度"
    # Correct words are left alone.
    assert corrector.correct("发票怎么开") == "发票怎么开"
    assert corrector.correct("我们公司现在资金紧张") == "我们公司现在资金紧张"


def test_entities_found_after_synonyms(analyzer: TextAnalyzer) -> None:
    assert analyzer.find_entities(analyzer.normalize("城建税和个税")) == {
        "城市维护建设税",
        "个人所得税",
    }
    assert "增值税" in analyzer.expand_entities({"土地增值税"})
    # Invoice names merely contain a tax name: they are no topic.
    assert analyzer.find_entities(analyzer.normalize("专票丢了")) == set()


def test_jieba_dictionary_read_from_its_cache_equals_jiebas_own() -> None:
    import jieba

    freq, total = _base_dictionary()
    own = jieba.Tokenizer()
    own.initialize()
    assert total == own.total
    assert freq == own.FREQ


def test_jieba_dictionary_rebuilt_when_its_cache_is_damaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    cache = tmp_path / "jieba.cache"
    cache.write_bytes(b"\x00damaged")
    freq, total = _base_dictionary()
    assert len(freq) > 300_000
    assert total > 0
    assert freq.get("增值税")  # jieba's own dictionary, built again from its dict.txt
    assert marshal.loads(cache.read_bytes())[1] == total  # and its cache written back


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("这个税率是多少", "这个税率是多少"),       # not 这个人所得税率 (个税 = 个人所得税)
        ("那个税控盘多少钱", "那个税控盘多少钱"),
        ("1个税种", "1个税种"),
        ("这个个税怎么算", "这个个人所得税怎么算"),  # a real 个税 after 这个 is still rewritten
    ],
)
def test_synonyms_are_not_matched_across_a_measure_word(
    analyzer: TextAnalyzer, text: str, expected: str
) -> None:
    assert analyzer.synonyms.apply(text) == expected
