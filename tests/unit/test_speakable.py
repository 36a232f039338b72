"""Spoken-text normalisation: how every text the hotline says is read aloud (``speakable``).

``CASES`` (``speakable_cases.py``) is the table of record: written text -> what is spoken
(docs/decisions/0004-text-normalisation.md measures the candidate libraries against it with
``benchmarks/tn_bench.py``).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from datetime import date, time
from pathlib import Path

import pytest

from callcenter.settings import PROJECT_ROOT
from ivr.prompts import readback
from ivr.prompts.spoken import speakable
from knowledge_base.loader import load_data
from tests.unit.speakable_cases import CASES

HOTLINE = str(Path(sys.executable).with_name("hotline"))


@pytest.mark.parametrize(("category", "written", "spoken"), CASES,
                         ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(CASES)])
def test_speakable(category: str, written: str, spoken: str) -> None:
    assert speakable(written) == spoken


def test_the_table_covers_every_category() -> None:
    categories = {c for c, _, _ in CASES}
    assert len(CASES) >= 100
    assert categories >= {"hotline", "phone", "percent", "decimal", "money", "date", "range",
                          "time", "ordinal", "law", "code", "latin", "cardinal", "negative",
                          "fraction", "faq"}
    assert len({w for _, w, _ in CASES}) == len(CASES), "a written text is in the table twice"


def faq_answers() -> list[tuple[str, str]]:
    result = load_data(PROJECT_ROOT / "knowledge_base" / "data", today=date(2026, 12, 1))
    assert result.entries, "no FAQ entry loaded"
    return [(entry.id, entry.answer) for entry in result.entries]


def test_the_table_holds_every_faq_answer_that_says_12366() -> None:
    table = {w for c, w, _ in CASES if c == "faq"}
    mention = {answer for _, answer in faq_answers() if "12366" in answer}
    assert len(mention) >= 2
    assert mention == table, "an FAQ answer that says 12366 changed: update the table"


def test_every_faq_answer_is_spoken_in_words() -> None:
    """No digit, number sign or unspelt abbreviation is left in any answer as it is spoken."""
    for entry_id, answer in faq_answers():
        spoken = speakable(answer)
        assert not re.search(r"[0-9%‰‱¥￥]|[A-Za-z]{2}", spoken), (entry_id, spoken)
        assert spoken.count("幺二三六六") == answer.count("12366"), entry_id
        # only numbers, signs and abbreviations are rewritten: the answer's Hanzi are all still
        # there, in their order
        rest = iter(spoken)
        assert all(c in rest for c in answer if "\u4e00" <= c <= "\u9fff"), (entry_id, spoken)


@pytest.mark.parametrize("written", [w for _, w, _ in CASES])
def test_speakable_is_idempotent(written: str) -> None:
    """What is spoken reads the same again: a text is never normalised twice into something else."""
    once = speakable(written)
    assert speakable(once) == once


def test_vosk_still_loads_in_a_process_that_has_read_texts() -> None:
    """The bridge reads FAQ answers and recognises speech in one process: a TN library on
    OpenFst would make ``import vosk`` hang after it (docs/decisions/0004)."""
    code = "from ivr.prompts.spoken import speakable; speakable('请拨打12366'); import vosk"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr


def test_the_cli_reads_lines_from_standard_input() -> None:
    done = subprocess.run([HOTLINE, "prompts", "speakable"], input="请拨打12366\n营业收入的5‰\n",
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["请拨打幺二三六六", "营业收入的千分之五"]


def test_the_cli_reads_its_arguments_and_keeps_empty_lines() -> None:
    args = subprocess.run([HOTLINE, "prompts", "speakable", "8:30", "0931-8888888"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert args.returncode == 0, args.stderr
    assert args.stdout.splitlines() == ["八点三十分", "零九三幺，八八八八八八八"]
    lines = subprocess.run([HOTLINE, "prompts", "speakable"], input="13%\n\n第1条\r\n",
                           capture_output=True, text=True, timeout=120, check=False)
    assert lines.stdout.splitlines() == ["百分之十三", "", "第一条"]


def test_the_cli_refuses_text_that_is_not_utf8() -> None:
    done = subprocess.run([HOTLINE, "prompts", "speakable"], input=b"12366\n\xff\xfe12\n",
                          capture_output=True, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stdout.decode().splitlines() == ["幺二三六六"]
    assert "line 2 of standard input is not UTF-8 text" in done.stderr.decode()


# -- read-backs are read by the same function ---------------------------------------------


def read(prompts: list[str]) -> str:
    chars = {prompt: char for char, prompt in readback.FRAGMENTS.items()}
    return "".join(chars[p] for p in prompts)


@pytest.mark.parametrize(("call", "spoken"), [
    (lambda: readback.say_date(date(2026, 2, 2)), "二零二六年二月二日"),
    (lambda: readback.say_time(time(2, 0)), "两点整"),
    (lambda: readback.say_time(time(8, 5)), "八点零五分"),
    (lambda: readback.say_time(time(0, 0)), "零点整"),
    (lambda: readback.say_amount(200), "两元整"),
    (lambda: readback.say_amount(1234567), "一万二千三百四十五元六角七分"),
    (lambda: readback.say_amount(-150), "负一元五角"),
    (lambda: readback.say_period("2026-02"), "二零二六年二月"),
])
def test_read_backs_are_spoken_as_texts_are(call: Callable[[], list[str]], spoken: str) -> None:
    assert read(call()) == spoken


@pytest.mark.parametrize("period", ["2026-13", "2026-00", "26-10", "2026-1a"])
def test_read_back_refuses_a_period_that_is_not_one(period: str) -> None:
    with pytest.raises(readback.NotSayable, match="not a period"):
        readback.say_period(period)
