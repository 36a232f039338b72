"""Validation of the data files: every kind of bad entry is reported with file, id and field."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest

from knowledge_base import Severity, ValidationIssue, load_data

from .conftest import GOOD_ENTRIES, WriteData

SPEC = """
as_of: "2026-11-28"
categories: ["增值税", "个人所得税", "12366服务"]
entries:
  - id: t.vat.rates
    category: "增值税"
    question: "增值税的税率有哪几档？"
    key_facts: ["13%", "9%", "6%"]
  - id: t.iit.threshold
    category: "个人所得税"
    question: "个人所得税的起征点是多少？"
    key_facts: ["5000元", "8万元"]
  - id: t.never.written
    category: "12366服务"
    question: "规格里有、数据里没有的问题？"
    key_facts: ["x"]
"""

BAD_ENTRIES = """
- id: bad.missing_answer
  category: 增值税
  question: 缺少答案字段？
  similar: []
  keywords: []
  effective_from: 2024-01-01
  effective_to: null
  source: 测试
- id: bad.empty_answer
  category: 增值税
  question: 答案为空？
  similar: []
  keywords: []
  answer: "   "
  effective_from: 2024-01-01
  effective_to: null
  source: 测试
- id: bad.unknown_key
  category: 增值税
  question: 多了一个字段？
  similar: []
  keywords: []
  answer: 有答案。
  effective_from: 2024-01-01
  effective_to: null
  source: 测试
  tags: [多余]
- id: bad.date_format
  category: 增值税
  question: 日期格式不对？
  similar: []
  keywords: []
  answer: 有答案。
  effective_from: 2024/01/01
  effective_to: null
  source: 测试
- id: bad.inverted_dates
  category: 增值税
  question: 日期颠倒？
  similar: []
  keywords: []
  answer: 有答案。
  effective_from: 2025-01-01
  effective_to: 2024-12-31
  source: 测试
- id: bad.similar_not_list
  category: 增值税
  question: 相似问法不是列表？
  similar: 只是一个字符串
  keywords: []
  answer: 有答案。
  effective_from: 2024-01-01
  effective_to: null
  source: 测试
- id: t.vat.rates
  category: 增值税
  question: 重复的编号？
  similar: []
  keywords: []
  answer: 13%、9%、6%。
  effective_from: 2024-01-01
  effective_to: null
  source: 测试
- 就是一个字符串而不是条目
"""


@pytest.fixture
def spec_path(tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(SPEC), encoding="utf-8")
    return path


def _find(issues: list[ValidationIssue], file: Path, entry_id: str, field: str) -> ValidationIssue:
    for issue in issues:
        if issue.file == str(file) and issue.entry_id == entry_id and issue.field == field:
            return issue
    listing = "\n".join(str(i) for i in issues)
    raise AssertionError(f"no issue for {file.name}:{entry_id}:{field} in\n{listing}")


def test_good_data_has_no_issue(data_dir: Path, write_data: WriteData) -> None:
    write_data("good.yaml", GOOD_ENTRIES)
    result = load_data(data_dir)
    assert result.issues == []
    assert [e.id for e in result.entries] == ["t.vat.rates", "t.iit.threshold", "t.hotline.agent"]
    assert result.entries[0].effective_from == date(2019, 4, 1)
    assert result.entries[0].similar == ("增值税税率是多少", "增值税有几档税率")


def test_every_bad_entry_is_reported(
    data_dir: Path, write_data: WriteData, spec_path: Path
) -> None:
    good = write_data("a_good.yaml", GOOD_ENTRIES)
    bad = write_data("b_bad.yaml", BAD_ENTRIES)
    result = load_data(data_dir, spec_path)
    issues = result.issues
    assert "missing field" in _find(issues, bad, "bad.missing_answer", "answer").message
    assert "empty" in _find(issues, bad, "bad.empty_answer", "answer").message
    assert "unknown field" in _find(issues, bad, "bad.unknown_key", "tags").message
    assert "ISO date" in _find(issues, bad, "bad.date_format", "effective_from").message
    assert "before it starts" in _find(issues, bad, "bad.inverted_dates", "effective_to").message
    assert "list" in _find(issues, bad, "bad.similar_not_list", "similar").message
    duplicate = _find(issues, bad, "t.vat.rates", "id")
    assert "duplicate" in duplicate.message
    assert str(good) in duplicate.message
    assert "mapping" in _find(issues, bad, "#8", "-").message
    # Against the spec: a key fact missing from an answer, a spec id without data.
    fact = _find(issues, good, "t.iit.threshold", "answer")
    assert "8万元" in fact.message
    missing = _find(issues, spec_path, "t.never.written", "id")
    assert "no data entry" in missing.message
    assert all(i.severity is Severity.ERROR for i in result.errors)
    # Only the valid entries are kept; the duplicate never replaces the first one.
    assert {e.id for e in result.entries} == {"t.vat.rates", "t.iit.threshold", "t.hotline.agent"}
    assert result.entries[0].answer.startswith("增值税税率")


def test_issue_string_is_file_id_field_message() -> None:
    issue = ValidationIssue("data/x.yaml", "vat.rates", "answer", "is empty")
    assert str(issue) == "data/x.yaml:vat.rates:answer: is empty"


def test_broken_yaml_and_wrong_top_level(data_dir: Path, write_data: WriteData) -> None:
    broken = write_data("broken.yaml", "- id: x\n  question: [unclosed\n")
    mapping = write_data("mapping.yaml", "id: not-a-list\n")
    issues = load_data(data_dir).issues
    assert "cannot read" in _find(issues, broken, "-", "-").message
    assert "list of entries" in _find(issues, mapping, "-", "-").message


def test_empty_data_directory_is_an_error(data_dir: Path) -> None:
    result = load_data(data_dir)
    assert not result.ok
    assert "no *.yaml" in result.issues[0].message


def test_files_without_entries_are_an_error(data_dir: Path, write_data: WriteData) -> None:
    empty = write_data("empty.yaml", "# nothing yet\n")
    result = load_data(data_dir)
    assert _find(result.issues, empty, "-", "-").severity is Severity.WARNING
    assert [i.message for i in result.errors] == ["no entry found"]


def test_single_file_skips_spec_coverage(write_data: WriteData, spec_path: Path) -> None:
    path = write_data("good.yaml", GOOD_ENTRIES)
    result = load_data(path, spec_path)
    assert [i.entry_id for i in result.errors] == ["t.iit.threshold"]  # the missing key fact


def test_expired_spec_entry_is_a_warning(
    data_dir: Path, write_data: WriteData, spec_path: Path
) -> None:
    text = GOOD_ENTRIES.replace(
        "effective_from: 2019-04-01\n  effective_to: null",
        ("effective_from: 2019-04-01\n  effective_to: 2020-01-01"),
    )
    write_data("good.yaml", text)
    result = load_data(data_dir, spec_path, today=date(2026, 11, 28))
    warning = [i for i in result.issues if i.entry_id == "t.vat.rates"]
    assert warning
    assert warning[0].severity is Severity.WARNING
    assert "not be served" in warning[0].message


def _hotline() -> str:
    return str(Path(sys.executable).with_name("hotline"))


def _validate(*args: str) -> subprocess.CompletedProcess[str]:
    """`hotline kb validate ARGS` in a subprocess, as a content editor runs it."""
    return subprocess.run([_hotline(), "kb", "validate", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def test_validate_command_lists_problems_and_fails(
    data_dir: Path, write_data: WriteData, spec_path: Path
) -> None:
    write_data("a_good.yaml", GOOD_ENTRIES)
    bad = write_data("b_bad.yaml", BAD_ENTRIES)
    run = _validate(str(data_dir), "--spec", str(spec_path))
    assert run.returncode == 1
    assert f"{bad}:bad.empty_answer:answer: is empty" in run.stdout
    assert f"{bad}:bad.unknown_key:tags: unknown field" in run.stdout
    assert "error(s)" in run.stderr


def test_validate_command_passes_on_good_data(data_dir: Path, write_data: WriteData) -> None:
    write_data("good.yaml", GOOD_ENTRIES)
    run = _validate(str(data_dir), "--no-spec")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout == ""


# ---------------------------------------------------------------- key facts on the entries
KEY_FACT_ENTRIES = """
- id: k.missing_fact
  category: 增值税
  question: 答案缺少关键事实？
  similar: []
  keywords: []
  answer: 税率为13%。
  key_facts: ["13%", "9%"]
  effective_from: 2024-01-01
  effective_to: null
  source: 测试
- id: k.not_a_list
  category: 增值税
  question: 关键事实不是列表？
  similar: []
  keywords: []
  answer: 税率为13%。
  key_facts: 13%
  effective_from: 2024-01-01
  effective_to: null
  source: 测试
- id: k.null
  category: 增值税
  question: 关键事实为空值？
  similar: []
  keywords: []
  answer: 税率为13%。
  key_facts:
  effective_from: 2024-01-01
  effective_to: null
  source: 测试
- id: k.empty_item
  category: 增值税
  question: 关键事实有空项？
  similar: []
  keywords: []
  answer: 税率为13%。
  key_facts: ["13%", " "]
  effective_from: 2024-01-01
  effective_to: null
  source: 测试
- id: k.none_listed
  category: 增值税
  question: 没有列出关键事实？
  similar: []
  keywords: []
  answer: 税率为13%。
  effective_from: 2024-01-01
  effective_to: null
  source: 测试
- id: k.twice
  category: 增值税
  question: 关键事实重复？
  similar: []
  keywords: []
  answer: 税率为13%。
  key_facts: ["13%", "13%"]
  effective_from: 2024-01-01
  effective_to: null
  source: 测试
"""


def test_key_facts_are_checked_against_the_answer(data_dir: Path, write_data: WriteData) -> None:
    path = write_data("facts.yaml", KEY_FACT_ENTRIES)
    result = load_data(data_dir)
    missing = _find(result.issues, path, "k.missing_fact", "key_facts")
    assert missing.severity is Severity.ERROR
    assert "'9%' is not in the answer" in missing.message
    assert "list" in _find(result.issues, path, "k.not_a_list", "key_facts").message
    assert "list" in _find(result.issues, path, "k.null", "key_facts").message
    assert "item 2 is empty" in _find(result.issues, path, "k.empty_item", "key_facts").message
    absent = _find(result.issues, path, "k.none_listed", "key_facts")
    assert absent.severity is Severity.WARNING
    assert "no key facts" in absent.message
    twice = _find(result.issues, path, "k.twice", "key_facts")
    assert twice.severity is Severity.WARNING
    assert "twice" in twice.message
    # Entries with an error are not kept; the ones with warnings are, with their facts.
    kept = {e.id: e for e in result.entries}
    assert set(kept) == {"k.none_listed", "k.twice"}
    assert kept["k.twice"].key_facts == ("13%", "13%")
    assert kept["k.none_listed"].key_facts == ()


def test_good_entries_keep_their_key_facts(data_dir: Path, write_data: WriteData) -> None:
    write_data("good.yaml", GOOD_ENTRIES)
    entries = {e.id: e for e in load_data(data_dir).entries}
    assert entries["t.vat.rates"].key_facts == ("13%", "9%", "6%")
    assert entries["t.vat.rates"].to_dict()["key_facts"] == ["13%", "9%", "6%"]


def test_spec_fact_not_listed_on_the_entry_is_a_warning(
    data_dir: Path, write_data: WriteData, spec_path: Path
) -> None:
    good = write_data("good.yaml", GOOD_ENTRIES.replace('key_facts: ["13%", "9%", "6%"]',
                                                         'key_facts: ["13%", "9%"]'))
    issues = load_data(data_dir, spec_path).issues
    warning = _find(issues, good, "t.vat.rates", "key_facts")
    assert warning.severity is Severity.WARNING
    assert "'6%' of the spec is not listed" in warning.message


def test_validate_command_reports_a_missing_key_fact(
    data_dir: Path, write_data: WriteData
) -> None:
    path = write_data("facts.yaml", KEY_FACT_ENTRIES)
    run = _validate(str(data_dir), "--no-spec")
    assert run.returncode == 1
    assert f"{path}:k.missing_fact:key_facts: key fact '9%' is not in the answer" in run.stdout
    assert f"{path}:k.none_listed:key_facts: warning: no key facts" in run.stdout
