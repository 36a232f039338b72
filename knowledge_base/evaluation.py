"""How well the FAQ engine answers the frozen question sets of `knowledge_base/eval/`.

One implementation for `benchmarks/kb_bench.py` (the full report), `benchmarks/kb_calibrate.py`
(choosing the decision's thresholds) and the suite's quality floor
(`tests/kb/test_quality_floor.py`): the question sets, the figures computed from the engine's
decisions, and the recorded floor (`eval/quality_floor.yaml`) they are held to.

Each question is asked through `KnowledgeBase.decide(q, top=3)`, the path of the IVR, the API,
the console and the command line. Figures on a labelled set (in-scope questions with the
entry that answers them, out-of-scope questions without):

- `top1`, `top3`: the expected entry first / among the first 3 of `KnowledgeBase.rank`, the
  ranking without the decision (the ranking's accuracy apart from the thresholds);
- `answered`: in-scope questions answered (decision "answer") with a right entry;
- `served`: in-scope questions answered right, or confirmed with a right entry among the
  candidates offered (the caller gets the right answer either way);
- `wrong_answer`: in-scope questions answered with a wrong entry (a wrong answer spoken);
- `oos_answered`: out-of-scope questions answered (an answer to something not asked);
- `oos_declined`: out-of-scope questions declined (the rest were confirmed: the caller is
  asked "您想咨询的是……吗" and can say no).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
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
FROZEN_SET = EVAL_DIR / "frozen_v1.jsonl"
FROZEN_SET_V2 = EVAL_DIR / "frozen_v2.jsonl"
TUNING_SET = EVAL_DIR / "tuning_v1.jsonl"
TUNING_SET_V2 = EVAL_DIR / "tuning_v2.jsonl"
TUNING_SET_V3 = EVAL_DIR / "tuning_v3.jsonl"
TUNING_SET_V4 = EVAL_DIR / "tuning_v4.jsonl"
TUNING_SETS = (TUNING_SET, TUNING_SET_V2, TUNING_SET_V3, TUNING_SET_V4)
"""The tuning sets (never a frozen set). tuning_v3 was written after the third calibration,
measured once as a check (docs/kb.md), and tuned on by the fourth; tuning_v4 was written
before the fifth, measured once as a fresh check, and tuned on by it."""
FROZEN_SET_V3 = EVAL_DIR / "frozen_v3.jsonl"
FROZEN_SET_V4 = EVAL_DIR / "frozen_v4.jsonl"
FROZEN_SETS = (FROZEN_SET, FROZEN_SET_V2)
QUALITY_FLOOR = EVAL_DIR / "quality_floor.yaml"
TOP = 3
ROUNDING = 0.0005
"""The floor file records figures to 3 decimals: a figure within this of its floor holds."""

IN_SCOPE_KINDS = ("standard", "colloquial", "asr", "short")
OUT_OF_SCOPE_KINDS = ("out_of_scope", "near_miss")

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


def read_caller_set(path: Path) -> list[Record]:
    """A caller set (`frozen_v1.jsonl`, `tuning_v1.jsonl`): in-scope questions (`kind` one of
    IN_SCOPE_KINDS) with the entry `id` that answers them and optional `also` (other entries
    whose answer is equally right); out-of-scope ones (`out_of_scope`, `near_miss`) without
    an `id`."""
    rows = read_jsonl(path, ("q", "kind"))
    for number, row in enumerate(rows, start=1):
        kind = row["kind"]
        where = f"{path}: question {number} ({row['q']!r})"
        if kind in IN_SCOPE_KINDS:
            if not isinstance(row.get("id"), str) or not row["id"]:
                raise EvaluationError(f"{where}: an in-scope question needs an 'id'")
            also = row.get("also", [])
            if not isinstance(also, list) or not all(isinstance(i, str) and i for i in also):
                raise EvaluationError(f"{where}: 'also' must be a list of entry ids")
        elif kind in OUT_OF_SCOPE_KINDS:
            if "id" in row or "also" in row:
                raise EvaluationError(f"{where}: an out-of-scope question has no 'id'")
        else:
            known = ", ".join(IN_SCOPE_KINDS + OUT_OF_SCOPE_KINDS)
            raise EvaluationError(f"{where}: unknown kind {kind!r} (one of {known})")
    return rows


def dev_questions() -> list[Record]:
    """The dev set and the out-of-scope set as one labelled set (out-of-scope: no `id`)."""
    return read_dev_set() + [{**row, "kind": "out_of_scope"} for row in read_out_of_scope()]


def frozen_questions() -> list[Record]:
    """The first frozen caller set (never used for tuning; seen since: the trade-off table of
    docs/kb.md was measured on it)."""
    return read_caller_set(FROZEN_SET)


def frozen_v2_questions() -> list[Record]:
    """The second frozen caller set, written before the decision was tuned again and never
    used to tune it."""
    return read_caller_set(FROZEN_SET_V2)


EVAL_SETS: dict[str, Callable[[], list[Record]]] = {
    "dev": dev_questions,
    "frozen": frozen_questions,
    "frozen_v2": frozen_v2_questions,
}
"""The labelled sets the benchmark reports figures for."""
SEEN_SETS: dict[str, Callable[[], list[Record]]] = {
    "dev": dev_questions,
    "frozen_v1": frozen_questions,
    "frozen_v2": frozen_v2_questions,
    "tuning_v1": lambda: read_caller_set(TUNING_SET),
    "tuning_v2": lambda: read_caller_set(TUNING_SET_V2),
    "frozen_v3": lambda: read_caller_set(FROZEN_SET_V3),
    "tuning_v3": lambda: read_caller_set(TUNING_SET_V3),
    "frozen_v4": lambda: read_caller_set(FROZEN_SET_V4),
    "tuning_v4": lambda: read_caller_set(TUNING_SET_V4),
}
"""Every labelled set seen so far, each measured or tuned on: what the fifth calibration of the
decision (its decline floors for long questions) was chosen on (`benchmarks/kb_calibrate.py`).
frozen_v3 and frozen_v4 were each measured once after a calibration and are seen since;
tuning_v4 was measured once, before the fifth calibration, then tuned on. A frozen set written
after the fifth (`frozen_v5.jsonl`) is not among them and is never read here: it is measured
once with `benchmarks/kb_measure.py`."""
FLOOR_SETS = ("dev", "frozen_v2")
"""The sets the suite's quality floor holds figures for: the dev set and the newest frozen set
(frozen_v1, seen since it was first measured, is reported by the benchmark only, so that the
floor's run time stays what it was with two sets)."""


def expected_ids(row: Record) -> set[str]:
    """The entries whose answer is right for an in-scope question (empty: out of scope)."""
    if not row.get("id"):
        return set()
    return {row["id"], *row.get("also", [])}


def dev_half(entry_id: str) -> str:
    """Half A (used for tuning) or B (held out), decided by the expected id."""
    return "A" if int(hashlib.md5(entry_id.encode()).hexdigest(), 16) % 2 == 0 else "B"


def base_id(entry_id: str) -> str:
    """The source id of a paraphrase copy `<id>.pNNN` of the benchmark's large base."""
    head, _, tail = entry_id.rpartition(".")
    return head if tail.startswith("p") and tail[1:].isdigit() else entry_id


# ------------------------------------------------------------------ answers and figures
def answer(kb: KnowledgeBase, rows: Sequence[Record], top: int = TOP) -> list[Record]:
    """`{"q", "decision", "results": [{"id", "score"}]}` per question, from `kb.decide`."""
    answers: list[Record] = []
    for row in rows:
        decision = kb.decide(row["q"], top)
        answers.append({
            "q": row["q"],
            "decision": decision.kind.value,
            "results": [{"id": r.id, "score": r.score} for r in decision.results],
        })
    return answers


def ranked(kb: KnowledgeBase, rows: Sequence[Record], top: int = TOP) -> list[list[str]]:
    """The ids `kb.rank` puts first per question (no decision)."""
    return [[r.id for r in kb.rank(row["q"], top)] for row in rows]


def outcome(row: Record, found: Record) -> str:
    """What the caller got: for an in-scope question `answered` (right), `wrong_answer`,
    `confirmed` (right among the candidates), `confirm_missed` (asked to confirm, none
    right) or `declined`; for an out-of-scope one `answered`, `confirmed` or `declined`."""
    decision = found["decision"]
    if decision == "decline":
        return "declined"
    expected = expected_ids(row)
    ids = [base_id(r["id"]) for r in found["results"]]
    if not expected:
        return "answered" if decision == "answer" else "confirmed"
    if decision == "answer":
        return "answered" if ids and ids[0] in expected else "wrong_answer"
    return "confirmed" if expected & set(ids) else "confirm_missed"


def decision_table(
    answers: Sequence[Record], rows: Sequence[Record], by_half: bool = False
) -> Record:
    """Shares of each outcome, overall and by kind (and by half of the dev set with
    `by_half`): `in` = in-scope questions, `out` = out-of-scope ones."""
    groups: dict[str, list[str]] = {}
    for row, found in zip(rows, answers, strict=True):
        scope = "in" if expected_ids(row) else "out"
        keys = [f"{scope}:all", f"{scope}:kind:{row['kind']}"]
        if by_half and scope == "in":
            keys.append(f"in:half:{dev_half(row['id'])}")
        for key in keys:
            groups.setdefault(key, []).append(outcome(row, found))
    table: Record = {}
    for key, outcomes in sorted(groups.items()):
        n = len(outcomes)
        shares = {name: outcomes.count(name) / n for name in sorted(set(outcomes))}
        if key.startswith("in:"):
            shares["served"] = shares.get("answered", 0.0) + shares.get("confirmed", 0.0)
        table[key] = {"n": n, **shares}
    return table


@dataclass(frozen=True, slots=True)
class QualityFigures:
    """The figures the floor holds (shares in [0, 1]; see the module's docstring)."""

    top1: float
    top3: float
    answered: float
    served: float
    wrong_answer: float
    oos_answered: float
    oos_declined: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def describe(self, name: str, in_n: int, out_n: int) -> str:
        return (
            f"FAQ decisions on the {name} set ({in_n} in-scope + {out_n} out-of-scope): "
            + ", ".join(f"{key} {value:.3f}" for key, value in self.as_dict().items())
        )


FIGURE_NAMES = tuple(QualityFigures.__dataclass_fields__)
CEILINGS = frozenset({"wrong_answer", "oos_answered"})
"""Figures where lower is better: held under a ceiling (recorded + margin), not a floor."""


def quality_figures(
    rows: Sequence[Record], answers: Sequence[Record], rows_ranked: Sequence[Sequence[str]]
) -> QualityFigures:
    """The figures of one labelled set from its decisions and its ranking."""
    in_scope = [
        (row, found, ids)
        for row, found, ids in zip(rows, answers, rows_ranked, strict=True)
        if expected_ids(row)
    ]
    out_scope = [
        (row, found) for row, found in zip(rows, answers, strict=True) if not expected_ids(row)
    ]
    if not in_scope or not out_scope:
        raise EvaluationError("no questions to evaluate (need in-scope and out-of-scope ones)")
    got_in = [outcome(row, found) for row, found, _ in in_scope]
    got_out = [outcome(row, found) for row, found in out_scope]
    n_in, n_out = len(in_scope), len(out_scope)
    first = [bool(ids) and base_id(ids[0]) in expected_ids(row) for row, _, ids in in_scope]
    three = [bool(expected_ids(row) & {base_id(i) for i in ids[:3]}) for row, _, ids in in_scope]
    return QualityFigures(
        top1=sum(first) / n_in,
        top3=sum(three) / n_in,
        answered=got_in.count("answered") / n_in,
        served=(got_in.count("answered") + got_in.count("confirmed")) / n_in,
        wrong_answer=got_in.count("wrong_answer") / n_in,
        oos_answered=got_out.count("answered") / n_out,
        oos_declined=got_out.count("declined") / n_out,
    )


def evaluate(kb: KnowledgeBase, rows: Sequence[Record]) -> QualityFigures:
    """Ask `kb` every question of a labelled set and compute the floor's figures."""
    return quality_figures(rows, answer(kb, rows), ranked(kb, rows))


# ------------------------------------------------------------------ the recorded floor
@dataclass(frozen=True, slots=True)
class QualityFloor:
    """Figures measured on `measured_on` (the base served as on that day), per labelled set
    (`FLOOR_SETS`), on the frozen files whose sha256 are `frozen_files`. A figure may not drop
    below its value minus `margin`; a ceiling figure (`CEILINGS`) may not rise above its
    value plus `margin`."""

    path: Path
    measured_on: date
    margin: float
    figures: Mapping[str, Mapping[str, float]]
    frozen_files: Mapping[str, str]

    def limit(self, set_name: str, name: str) -> float:
        """The floor (or, for a ceiling figure, the ceiling) of a figure."""
        recorded = self.figures[set_name][name]
        return recorded + self.margin if name in CEILINGS else recorded - self.margin

    def shortfalls(self, set_name: str, figures: QualityFigures) -> list[str]:
        """One line per figure past its limit (empty: the floor holds)."""
        problems = []
        for name, value in figures.as_dict().items():
            limit = self.limit(set_name, name)
            recorded = self.figures[set_name][name]
            if name in CEILINGS and value > limit + ROUNDING:
                problems.append(
                    f"{set_name}.{name} {value:.3f} > ceiling {limit:.3f} (recorded"
                    f" {recorded:.3f} on {self.measured_on.isoformat()} + margin {self.margin})"
                )
            elif name not in CEILINGS and value < limit - ROUNDING:
                problems.append(
                    f"{set_name}.{name} {value:.3f} < floor {limit:.3f} (recorded"
                    f" {recorded:.3f} on {self.measured_on.isoformat()} - margin {self.margin})"
                )
        return problems

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


FIELDS = ("measured_on", "margin", "figures", "frozen_files")


def load_floor(path: Path = QUALITY_FLOOR) -> QualityFloor:
    """Read the floor file; a missing or malformed field is an `EvaluationError` naming it."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise EvaluationError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(raw, dict):
        raise EvaluationError(f"{path}: expected a mapping")
    for name in FIELDS:
        if name not in raw:
            raise EvaluationError(f"{path}: missing field {name!r}")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise EvaluationError(f"{path}: unknown field(s) {', '.join(map(str, unknown))}")
    measured_on = raw["measured_on"]
    if not isinstance(measured_on, date) or isinstance(measured_on, datetime):
        raise EvaluationError(f"{path}: measured_on must be a date YYYY-MM-DD, got {measured_on!r}")
    margin = _share(path, "margin", raw["margin"])
    if margin > 0.1:
        raise EvaluationError(f"{path}: margin {margin} is not small (at most 0.1)")
    figures = raw["figures"]
    if not isinstance(figures, dict) or set(figures) != set(FLOOR_SETS):
        got = sorted(figures) if isinstance(figures, dict) else figures
        raise EvaluationError(
            f"{path}: figures must hold exactly the sets {sorted(FLOOR_SETS)}, got {got!r}"
        )
    checked: dict[str, dict[str, float]] = {}
    for set_name in sorted(FLOOR_SETS):
        values = figures[set_name]
        if not isinstance(values, dict) or set(values) != set(FIGURE_NAMES):
            got = sorted(values) if isinstance(values, dict) else values
            raise EvaluationError(
                f"{path}: figures.{set_name} must be exactly {list(FIGURE_NAMES)}, got {got!r}"
            )
        checked[set_name] = {
            name: _share(path, f"figures.{set_name}.{name}", values[name])
            for name in FIGURE_NAMES
        }
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
        figures=checked,
        frozen_files=dict(frozen),
    )
