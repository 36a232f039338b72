"""How well the FAQ engine answers the frozen question sets of `knowledge_base/eval/`.

One implementation for `benchmarks/kb_bench.py` (the full report) and for the suite's quality
floor (`tests/kb/test_quality_floor.py`): the question sets, the figures computed from the
engine's answers, and the recorded floor (`eval/quality_floor.yaml`) they are held to.

Figures on the in-scope (dev) questions, each question asked through `KnowledgeBase.search(q,
top=3)`, the path the IVR and the API use:

- `served`: answered (not declined) with the expected entry first; the benchmark's tables call
  it top-1 (a declined question counts as a miss there);
- `top3`: the expected entry among the (up to) 3 results; declined = miss;
- `top1`: the expected entry ranked first by `KnowledgeBase.rank`, the same ranking without
  the decision to decline: the ranking's accuracy apart from the threshold;

and on the out-of-scope questions: `oos_declined`, the share declined (empty results).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from knowledge_base.base import KnowledgeBase
from knowledge_base.loader import EVAL_DIR

DEV_SET = EVAL_DIR / "faq_dev.jsonl"
OUT_OF_SCOPE = EVAL_DIR / "out_of_scope.jsonl"
NOW_IN_SCOPE = EVAL_DIR / "now_in_scope.jsonl"
QUALITY_FLOOR = EVAL_DIR / "quality_floor.yaml"
TOP = 3
ROUNDING = 0.0005
"""The floor file records figures to 3 decimals: a figure within this of its floor holds."""

Record = dict[str, Any]


class EvaluationError(ValueError):
    """A question set or the floor file is malformed (the message names file and line)."""


# ------------------------------------------------------------------ question sets
def read_jsonl(path: Path, required: Sequence[str] = ("q",)) -> list[Record]:
    """One JSON object per non-empty line, each with the `required` fields as non-empty
    strings."""
    rows: list[Record] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EvaluationError(f"{path}:{number}: not JSON: {exc.msg}") from exc
            if not isinstance(row, dict):
                raise EvaluationError(f"{path}:{number}: expected a JSON object")
            for name in required:
                value = row.get(name)
                if not isinstance(value, str) or not value.strip():
                    raise EvaluationError(f"{path}:{number}: {name!r} must be a non-empty string")
            rows.append(row)
    return rows


def read_dev_set(path: Path = DEV_SET) -> list[Record]:
    """In-scope questions: `q`, the expected entry `id`, and `kind` (standard, colloquial,
    asr, short)."""
    return read_jsonl(path, ("q", "id", "kind"))


def read_out_of_scope(path: Path = OUT_OF_SCOPE,
                      now_in_scope: Path | None = NOW_IN_SCOPE) -> list[Record]:
    """Questions the base cannot answer: `q` (and a `topic`), less those that an entry added
    since answers (`now_in_scope`: the frozen file itself is never edited)."""
    answered = {row["q"] for row in read_now_in_scope(now_in_scope)} if now_in_scope else set()
    return [row for row in read_jsonl(path, ("q",)) if row["q"] not in answered]


def read_now_in_scope(path: Path = NOW_IN_SCOPE) -> list[Record]:
    """Out-of-scope questions that an entry added later answers: `q`, the entry `id` and
    `since` (the day the entry was added)."""
    return read_jsonl(path, ("q", "id", "since"))


def dev_half(entry_id: str) -> str:
    """Half A (used for tuning) or B (held out), decided by the expected id."""
    return "A" if int(hashlib.md5(entry_id.encode()).hexdigest(), 16) % 2 == 0 else "B"


def base_id(entry_id: str) -> str:
    """The source id of a paraphrase copy `<id>.pNNN` of the benchmark's large base."""
    head, _, tail = entry_id.rpartition(".")
    return head if tail.startswith("p") and tail[1:].isdigit() else entry_id


# ------------------------------------------------------------------ answers and figures
def answer(kb: KnowledgeBase, rows: Sequence[Record], top: int = TOP) -> list[Record]:
    """`{"q", "results": [{"id", "score"}]}` per question, from `kb.search`."""
    answers: list[Record] = []
    for row in rows:
        found = kb.search(row["q"], top)
        answers.append({"q": row["q"], "results": [{"id": r.id, "score": r.score} for r in found]})
    return answers


def ranked(kb: KnowledgeBase, rows: Sequence[Record], top: int = TOP) -> list[list[str]]:
    """The ids `kb.rank` puts first per question (no decline)."""
    return [[r.id for r in kb.rank(row["q"], top)] for row in rows]


def accuracy(answers: Sequence[Record], dev: Sequence[Record]) -> Record:
    """top-1 / top-3 / declined shares, overall, by kind and by half of the dev set."""
    groups: dict[str, list[tuple[bool, bool, bool]]] = {}
    for row, found in zip(dev, answers, strict=True):
        ids = [base_id(r["id"]) for r in found["results"]]
        top1 = bool(ids) and ids[0] == row["id"]
        top3 = row["id"] in ids[:3]
        declined = not ids
        for key in ("overall", f"kind:{row['kind']}", f"half:{dev_half(row['id'])}"):
            groups.setdefault(key, []).append((top1, top3, declined))
    return {
        key: {
            "n": len(values),
            "top1": sum(v[0] for v in values) / len(values),
            "top3": sum(v[1] for v in values) / len(values),
            "declined": sum(v[2] for v in values) / len(values),
        }
        for key, values in sorted(groups.items())
    }


def decline_figures(dev_answers: Sequence[Record], oos_answers: Sequence[Record]) -> Record:
    dev_declined = sum(1 for a in dev_answers if not a["results"])
    oos_declined = sum(1 for a in oos_answers if not a["results"])
    total_declined = dev_declined + oos_declined
    return {
        "oos_n": len(oos_answers),
        "oos_declined": oos_declined / len(oos_answers),
        "decline_precision": oos_declined / total_declined if total_declined else 1.0,
        "in_scope_wrongly_declined": dev_declined / len(dev_answers),
        "oos_answered": [
            {"q": a["q"], "id": a["results"][0]["id"], "score": round(a["results"][0]["score"], 3)}
            for a in oos_answers
            if a["results"]
        ],
    }


@dataclass(frozen=True, slots=True)
class QualityFigures:
    """The figures the floor holds (shares in [0, 1]; see the module's docstring)."""

    top1: float
    served: float
    top3: float
    oos_declined: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def describe(self, dev_n: int, oos_n: int) -> str:
        return (
            f"FAQ quality on {dev_n} in-scope + {oos_n} out-of-scope frozen questions: "
            + ", ".join(f"{name} {value:.3f}" for name, value in self.as_dict().items())
        )


FIGURE_NAMES = tuple(QualityFigures.__dataclass_fields__)


def quality_figures(
    dev: Sequence[Record],
    dev_answers: Sequence[Record],
    oos_answers: Sequence[Record],
    dev_ranked: Sequence[Sequence[str]],
) -> QualityFigures:
    if not dev or not oos_answers:
        raise EvaluationError("no questions to evaluate")
    overall = accuracy(dev_answers, dev)["overall"]
    first = [
        bool(ids) and base_id(ids[0]) == row["id"]
        for row, ids in zip(dev, dev_ranked, strict=True)
    ]
    return QualityFigures(
        top1=sum(first) / len(first),
        served=overall["top1"],
        top3=overall["top3"],
        oos_declined=decline_figures(dev_answers, oos_answers)["oos_declined"],
    )


def evaluate(
    kb: KnowledgeBase, dev: Sequence[Record], oos: Sequence[Record]
) -> QualityFigures:
    """Ask `kb` every question of both sets and compute the floor's figures."""
    return quality_figures(dev, answer(kb, dev), answer(kb, oos), ranked(kb, dev))


# ------------------------------------------------------------------ the recorded floor
@dataclass(frozen=True, slots=True)
class QualityFloor:
    """Figures measured on `measured_on` (the base served as on that day) on the frozen files
    whose sha256 are `frozen_files`; a figure may not drop below its value minus `margin`."""

    path: Path
    measured_on: date
    margin: float
    figures: Mapping[str, float]
    frozen_files: Mapping[str, str]

    def floor(self, name: str) -> float:
        return self.figures[name] - self.margin

    def shortfalls(self, figures: QualityFigures) -> list[str]:
        """One line per figure under its floor (empty: the floor holds)."""
        return [
            f"{name} {value:.3f} < floor {self.floor(name):.3f} (recorded {self.figures[name]:.3f}"
            f" on {self.measured_on.isoformat()} - margin {self.margin})"
            for name, value in figures.as_dict().items()
            if value < self.floor(name) - ROUNDING
        ]

    def changed_files(self, directory: Path | None = None) -> list[str]:
        """Frozen files whose content differs from what the figures were measured on."""
        folder = directory if directory is not None else self.path.parent
        changed = []
        for name, digest in self.frozen_files.items():
            path = folder / name
            actual = file_sha256(path) if path.is_file() else "missing"
            if actual != digest:
                changed.append(f"{path}: sha256 {actual}, recorded {digest}")
        return changed


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _share(path: Path, where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise EvaluationError(f"{path}: {where} must be a number, got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise EvaluationError(f"{path}: {where} must lie in [0, 1], got {value!r}")
    return float(value)


def load_floor(path: Path = QUALITY_FLOOR) -> QualityFloor:
    """Read the floor file; a missing or malformed field is an `EvaluationError` naming it."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise EvaluationError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(raw, dict):
        raise EvaluationError(f"{path}: expected a mapping")
    for name in ("measured_on", "margin", "figures", "frozen_files"):
        if name not in raw:
            raise EvaluationError(f"{path}: missing field {name!r}")
    unknown = sorted(set(raw) - {"measured_on", "margin", "figures", "frozen_files"})
    if unknown:
        raise EvaluationError(f"{path}: unknown field(s) {', '.join(map(str, unknown))}")
    measured_on = raw["measured_on"]
    if not isinstance(measured_on, date) or isinstance(measured_on, datetime):
        raise EvaluationError(f"{path}: measured_on must be a date YYYY-MM-DD, got {measured_on!r}")
    margin = _share(path, "margin", raw["margin"])
    if margin > 0.1:
        raise EvaluationError(f"{path}: margin {margin} is not small (at most 0.1)")
    figures = raw["figures"]
    if not isinstance(figures, dict) or set(figures) != set(FIGURE_NAMES):
        got = sorted(figures) if isinstance(figures, dict) else figures
        raise EvaluationError(f"{path}: figures must be exactly {list(FIGURE_NAMES)}, got {got!r}")
    frozen = raw["frozen_files"]
    if (
        not isinstance(frozen, dict)
        or not frozen
        or not all(
            isinstance(k, str) and isinstance(v, str) and len(v) == 64 for k, v in frozen.items()
        )
    ):
        raise EvaluationError(f"{path}: frozen_files must map file names to sha256 hex digests")
    return QualityFloor(
        path=path,
        measured_on=measured_on,
        margin=margin,
        figures={name: _share(path, f"figures.{name}", figures[name]) for name in FIGURE_NAMES},
        frozen_files=dict(frozen),
    )
