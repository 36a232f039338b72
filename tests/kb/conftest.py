"""Shared fixtures: the real knowledge base (loaded once per session) and tiny test bases."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from knowledge_base import DEFAULT_DATA_DIR, DEFAULT_SPEC_PATH, KnowledgeBase
from knowledge_base.evaluation import load_floor

WriteData = Callable[[str, str], Path]


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    """The shipped base with dense retrieval, checked against the frozen spec, index cached
    under var/kb-cache; served as on the quality floor's date, not the wall clock's."""
    day = load_floor().measured_on
    return KnowledgeBase.load(DEFAULT_DATA_DIR, spec_path=DEFAULT_SPEC_PATH, clock=lambda: day)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def write_data(data_dir: Path) -> WriteData:
    """Write one YAML data file (dedented) into the test data folder."""

    def write(name: str, text: str) -> Path:
        path = data_dir / name
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    return write


GOOD_ENTRIES = """
- id: t.vat.rates
  category: 增值税
  question: 增值税的税率有哪几档？
  similar: [增值税税率是多少, 增值税有几档税率]
  keywords: [增值税, 税率]
  answer: 增值税税率分为13%、9%、6%三档，另有零税率。
  key_facts: ["13%", "9%", "6%"]
  effective_from: 2019-04-01
  effective_to: null
  source: 增值税法
- id: t.iit.threshold
  category: 个人所得税
  question: 个人所得税的起征点是多少？
  similar: [个税起征点是多少, 工资多少开始交个税]
  keywords: [起征点, 基本减除费用]
  answer: 基本减除费用为每月5000元，每年6万元。
  key_facts: [5000元, 6万元]
  effective_from: 2019-01-01
  effective_to: null
  source: 个人所得税法
- id: t.hotline.agent
  category: 12366服务
  question: 拨打12366如何转人工服务？
  similar: [怎么转人工, 我要找人工客服]
  keywords: [人工服务, 转人工]
  answer: 在语音导航中按0键即可转人工服务。
  key_facts: [按0键]
  effective_from: 2020-01-01
  effective_to: null
  source: 12366热线
"""
