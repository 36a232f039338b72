"""The FAQ quality floor: on the frozen question sets of knowledge_base/eval/, the real base
(dense encoder, the code path of benchmarks/kb_bench.py) may not fall below the recorded
figures minus the margin; and the evaluation's own rules, on small made-up inputs."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from knowledge_base import KnowledgeBase
from knowledge_base.evaluation import (
    QUALITY_FLOOR,
    EvaluationError,
    QualityFigures,
    QualityFloor,
    evaluate,
    load_floor,
    quality_figures,
    read_dev_set,
    read_jsonl,
    read_out_of_scope,
)
from knowledge_base.loader import EVAL_DIR


def test_frozen_sets_are_those_the_floor_was_measured_on() -> None:
    floor = load_floor()
    assert set(floor.frozen_files) == {
        "faq_spec.yaml", "faq_dev.jsonl", "out_of_scope.jsonl", "frozen_v1.jsonl"
    }
    assert floor.changed_files() == [], (
        "a frozen evaluation file changed: measure the figures again and record them with the "
        f"new sha256 in {QUALITY_FLOOR} (knowledge_base/eval/README.md)"
    )


def test_faq_quality_holds_its_floor(
    kb: KnowledgeBase, record_property: Callable[[str, object], None]
) -> None:
    floor = load_floor()
    assert kb.clock() == floor.measured_on  # the base as served on the day of the figures
    dev, oos = read_dev_set(), read_out_of_scope()
    figures = evaluate(kb, dev, oos)
    lines = [figures.describe(len(dev), len(oos))] + [
        f"  {name}: {value:.3f} (recorded {floor.figures[name]:.3f}, floor {floor.floor(name):.3f})"
        for name, value in figures.as_dict().items()
    ]
    record_property("summary", "\n".join(lines))  # printed at the end (tests/plugins/summary.py)
    assert floor.shortfalls(figures) == []


# ------------------------------------------------------------------ the rules, made-up inputs
DEV = [
    {"q": "a", "id": "x", "kind": "standard"},
    {"q": "b", "id": "y", "kind": "asr"},
    {"q": "c", "id": "z", "kind": "short"},
    {"q": "d", "id": "w", "kind": "short"},
]


def _results(*ids: str) -> dict[str, object]:
    return {"q": "-", "results": [{"id": i, "score": 0.9} for i in ids]}


def test_figures_separate_ranking_serving_and_declining() -> None:
    answers = [
        _results("x", "y"),  # served
        _results(),  # declined, although ranked first
        _results("a", "z"),  # wrong first, right second
        _results("a.b", "w.p001"),  # a paraphrase copy counts as its source (10k base)
    ]
    ranked = [["x", "y"], ["y"], ["a", "z"], ["q"]]
    oos = [_results(), _results("x"), _results(), _results()]
    figures = quality_figures(DEV, answers, oos, ranked)
    assert figures == QualityFigures(top1=0.5, served=0.25, top3=0.75, oos_declined=0.75)
    with pytest.raises(EvaluationError, match="no questions"):
        quality_figures([], [], oos, [])
    with pytest.raises(ValueError, match="shorter"):  # answers and questions must pair up
        quality_figures(DEV, answers[:3], oos, ranked)


def _floor(**figures: float) -> QualityFloor:
    recorded = {"top1": 0.9, "served": 0.9, "top3": 0.9, "oos_declined": 0.9, **figures}
    return QualityFloor(
        path=QUALITY_FLOOR,
        measured_on=load_floor().measured_on,
        margin=0.02,
        figures=recorded,
        frozen_files={},
    )


def test_shortfalls_name_each_figure_under_its_floor() -> None:
    floor = _floor()
    at_floor = QualityFigures(top1=0.88, served=0.8805, top3=0.8796, oos_declined=0.95)
    assert floor.shortfalls(at_floor) == []  # 3-decimal rounding of the record tolerated
    below = QualityFigures(top1=0.879, served=0.95, top3=0.5, oos_declined=0.9)
    problems = floor.shortfalls(below)
    assert len(problems) == 2
    assert problems[0].startswith("top1 0.879 < floor 0.880 (recorded 0.900")
    assert problems[1].startswith("top3 0.500 < floor 0.880")


def test_a_changed_or_missing_frozen_file_is_reported(tmp_path: Path) -> None:
    floor = load_floor()
    for name in floor.frozen_files:
        shutil.copy(EVAL_DIR / name, tmp_path / name)
    assert floor.changed_files(tmp_path) == []
    with (tmp_path / "faq_dev.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"q": "新问题", "id": "x", "kind": "short"}\n')
    (tmp_path / "out_of_scope.jsonl").unlink()
    changed = floor.changed_files(tmp_path)
    assert len(changed) == 2
    assert "faq_dev.jsonl: sha256 " in changed[0]
    assert "out_of_scope.jsonl: sha256 missing" in changed[1]


GOOD_FLOOR = """
measured_on: 2026-11-29
margin: 0.02
figures: {top1: 0.9, served: 0.9, top3: 0.95, oos_declined: 0.9}
frozen_files: {faq_dev.jsonl: "%s"}
""" % ("0" * 64)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("measured_on: 2026-11-29", "measured_on: yesterday", "measured_on must be a date"),
        ("measured_on: 2026-11-29", "measured_on: 2026-11-29 10:00:00", "must be a date"),
        ("margin: 0.02", "margin: 0.5", "margin 0.5 is not small"),
        ("margin: 0.02", "margin: '0.02'", "margin must be a number"),
        ("margin: 0.02\n", "", "missing field 'margin'"),
        ("top3: 0.95", "top3: 95", r"figures.top3 must lie in \[0, 1\]"),
        ("top3: 0.95", "top5: 0.95", "figures must be exactly"),
        ('"' + "0" * 64 + '"', "abc", "frozen_files must map file names to sha256"),
        ("margin: 0.02", "margin: 0.02\nfloors: 1", "unknown field"),
    ],
)
def test_a_malformed_floor_file_is_refused(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = tmp_path / "quality_floor.yaml"
    path.write_text(GOOD_FLOOR, encoding="utf-8")
    assert load_floor(path).figures["top3"] == 0.95
    assert old in GOOD_FLOOR
    path.write_text(GOOD_FLOOR.replace(old, new), encoding="utf-8")
    with pytest.raises(EvaluationError, match=message):
        load_floor(path)


def test_a_missing_or_unreadable_floor_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "quality_floor.yaml"
    with pytest.raises(EvaluationError, match="cannot read"):
        load_floor(path)
    path.write_text("figures: [top1\n", encoding="utf-8")
    with pytest.raises(EvaluationError, match="cannot read"):
        load_floor(path)
    path.write_text("- top1: 0.9\n", encoding="utf-8")
    with pytest.raises(EvaluationError, match="expected a mapping"):
        load_floor(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"q": "个税", "id": "x", "kind": "short"}\n{"q": "个税", "id": "x"\n', ":2: not JSON"),
        ('\n["个税"]\n', ":2: expected a JSON object"),
        ('{"q": "个税", "id": "", "kind": "short"}\n', ":1: 'id' must be a non-empty string"),
        ('{"q": 12366, "id": "x", "kind": "short"}\n', ":1: 'q' must be a non-empty string"),
    ],
)
def test_a_malformed_question_set_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "dev.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(EvaluationError, match=message):
        read_dev_set(path)


def test_question_sets_read_every_line() -> None:
    lines = (EVAL_DIR / "faq_dev.jsonl").read_text(encoding="utf-8").splitlines()
    dev = read_dev_set()
    assert len(dev) == len([line for line in lines if line.strip()])
    assert {row["kind"] for row in dev} == {"standard", "colloquial", "asr", "short"}
    assert read_jsonl(EVAL_DIR / "out_of_scope.jsonl") == read_out_of_scope()
