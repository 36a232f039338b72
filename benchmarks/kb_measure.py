"""Measure the FAQ decision on one caller set: the issue's three target figures and the confirm
rate.

    python benchmarks/kb_measure.py knowledge_base/eval/frozen_v2.jsonl [--list] [--json FILE]

The set is a caller set in the format of `knowledge_base/eval/` (`read_caller_set`: in-scope
questions with `id` and optional `also`, out-of-scope ones of kind `out_of_scope` or
`near_miss`). Every question goes through `KnowledgeBase.decide(q, top=3)`, the path of the
IVR, the API and the console, with the shipped base and the default encoder, served as on the
quality floor's date (`--day` for another). It prints, against the targets of issue 10:

- wrong answer spoken, share of in-scope questions (target <= 2%);
- served = answered right or the right entry among the confirm candidates (target >= 95%);
- out-of-scope questions answered (target <= 5%);
- in-scope questions asked to confirm (the cost of one more key press; no target),

then the same by kind, and with `--list` every out-of-scope question answered and every wrong
answer. Nothing is tuned here: measuring a frozen set once does not make it seen, choosing
anything after reading its figures does.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from knowledge_base import KnowledgeBase  # noqa: E402
from knowledge_base.evaluation import (  # noqa: E402
    Record,
    answer,
    expected_ids,
    load_floor,
    outcome,
    read_caller_set,
)

TARGETS = {"wrong_answer": ("<=", 0.02), "served": (">=", 0.95), "oos_answered": ("<=", 0.05)}


def measure(rows: list[Record], answers: list[Record]) -> dict[str, Any]:
    """The target figures and the confirm rate, overall and by kind."""
    groups: dict[str, list[tuple[Record, Record]]] = {"all": []}
    for row, found in zip(rows, answers, strict=True):
        groups["all"].append((row, found))
        groups.setdefault(row["kind"], []).append((row, found))
    out: dict[str, Any] = {}
    for name, pairs in groups.items():
        inside = [outcome(r, f) for r, f in pairs if expected_ids(r)]
        outside = [outcome(r, f) for r, f in pairs if not expected_ids(r)]
        figures: dict[str, Any] = {"in_n": len(inside), "out_n": len(outside)}
        if inside:
            n = len(inside)
            figures["wrong_answer"] = inside.count("wrong_answer") / n
            figures["served"] = (inside.count("answered") + inside.count("confirmed")) / n
            asked = inside.count("confirmed") + inside.count("confirm_missed")
            figures["confirm_rate"] = asked / n
            figures["answered_right"] = inside.count("answered") / n
            figures["declined"] = inside.count("declined") / n
        if outside:
            n = len(outside)
            figures["oos_answered"] = outside.count("answered") / n
            figures["oos_confirmed"] = outside.count("confirmed") / n
            figures["oos_declined"] = outside.count("declined") / n
        out[name] = figures
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("set_file", type=Path, help="a caller set (.jsonl)")
    parser.add_argument("--day", type=date.fromisoformat,
                        help="serve the base as on this day (default: the quality floor's date)")
    parser.add_argument("--list", action="store_true",
                        help="list the out-of-scope questions answered and the wrong answers")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    day = args.day or load_floor().measured_on
    rows = read_caller_set(args.set_file)
    kb = KnowledgeBase.load(clock=lambda: day)
    answers = answer(kb, rows)
    figures = measure(rows, answers)
    overall = figures["all"]
    print(f"{args.set_file.name}: {overall['in_n']} in scope, {overall['out_n']} out of scope;"
          f" base served as on {day.isoformat()}")
    for name, (sign, target) in TARGETS.items():
        value = overall.get(name)
        if value is None:
            print(f"  {name:14s}   n/a")
            continue
        met = value <= target if sign == "<=" else value >= target
        verdict = "met" if met else "NOT met"
        print(f"  {name:14s} {value:6.1%}  (target {sign} {target:.0%}: {verdict})")
    if "confirm_rate" in overall:
        print(f"  {'confirm_rate':14s} {overall['confirm_rate']:6.1%}  (in-scope callers asked to"
              " confirm)")
    for name, values in figures.items():
        if name != "all":
            shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in values.items()}
            print(f"  by kind {name}: {shown}")
    if args.list:
        for row, found in zip(rows, answers, strict=True):
            got = outcome(row, found)
            if got in ("wrong_answer",) or (not expected_ids(row) and got == "answered"):
                first = found["results"][0]["id"] if found["results"] else "-"
                print(f"  {got}: {row['q']} -> {first} ({row['kind']})")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
