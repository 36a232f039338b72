"""The contact writer's CPU: what storing one call's timeline costs the bridge.

Run `python benchmarks/contacts_bench.py [--calls 200] [--batch 50]` from the repository root in
the project's virtualenv. For SQLite (a temporary file) and PostgreSQL (a throw-away database
next to HOTLINE_BENCH_PG_ADMIN_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/postgres)
it stores the timelines of ``--calls`` calls, interleaved as a loaded bridge records them (each
call one step further in turn), half of them the FAQ call of `tests/test_calls.py` as the
bridge recorded it (33 events) and half a call answered by an agent (26 events):

* ``one``: each event in a transaction of its own (``ContactService.apply``: the writer's way
  when it has one event waiting, or after a batch failed);
* ``batch``: ``--batch`` events a transaction (``ContactService.apply_batch``: the writer's way
  under load, `ContactLog`).

Prints one JSON line per database and way: this process's CPU seconds (user + system) per call
and per event, and the wall time. PostgreSQL's own CPU is not counted (another process).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_bench import database

from callcenter.contacts.services import ContactService
from callcenter.db import Database
from ivr.events import (
    AgentCompleted,
    AgentConnected,
    AgentRinging,
    CallEnded,
    CallStarted,
    Digits,
    EventRecord,
    FaqPlayed,
    IvrHangup,
    MenuNodeEntered,
    NoInput,
    PromptHeard,
    PromptSent,
    QueueJoined,
    SelfService,
    ServiceResult,
    Survey,
    Transfer,
)
from ivr.ports import ContactEvent

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def _menu(node: str, prompt: str, kind: str = "menu") -> list[EventRecord]:
    return [MenuNodeEntered(node=node, type=kind),
            PromptSent(node=node, prompts=(prompt,), on_key="barge_in", attempt=1),
            PromptHeard(node=node, prompts=(prompt,), interrupted_by="1", endpos=18080,
                         attempt=1)]


def _opening() -> list[EventRecord]:
    return [MenuNodeEntered(node="welcome", type="play"),
            PromptSent(node="welcome", prompts=("welcome",), on_key="keep"),
            PromptHeard(node="welcome", prompts=("welcome",)),
            MenuNodeEntered(node="hours_gate", type="hours"),
            ServiceResult(node="hours_gate", service="hours", result="open"),
            *_menu("main", "main_menu")]


def _survey_and_goodbye() -> list[EventRecord]:
    return [MenuNodeEntered(node="survey", type="survey"),
            PromptSent(node="survey", prompts=("survey_prompt",), on_key="barge_in",
                       attempt=1),
            PromptHeard(node="survey", prompts=("survey_prompt",), attempt=1),
            NoInput(node="survey", attempt=1),
            Survey(score=None, node="survey"),
            MenuNodeEntered(node="goodbye", type="hangup"),
            PromptSent(node="goodbye", prompts=("goodbye",), on_key="keep"),
            PromptHeard(node="goodbye", prompts=("goodbye",)),
            IvrHangup(node="goodbye", reason="completed")]


def faq_call() -> list[EventRecord]:
    answer = ("kb/b6faae35df70c9e04cc2",)
    return [*_opening(), Digits(node="main", digits="1"),
            *_menu("consult", "consult_menu"), Digits(node="consult", digits="1"),
            *_menu("cat_vat", "cat_vat_menu"), Digits(node="cat_vat", digits="1"),
            MenuNodeEntered(node="faq_vat_law", type="faq"),
            FaqPlayed(node="faq_vat_law", faq_id="vat.law.effective_date",
                      question="增值税法什么时候开始施行？", score=1.0, category="增值税",
                      via="key"),
            PromptSent(node="faq_vat_law", prompts=answer, on_key="barge_in"),
            PromptHeard(node="faq_vat_law", prompts=answer),
            SelfService(node="faq_vat_law", service="faq", detail="vat.law.effective_date"),
            *_survey_and_goodbye()]


def agent_call() -> list[EventRecord]:
    return [*_opening(), Digits(node="main", digits="0"),
            MenuNodeEntered(node="agent", type="queue"),
            Transfer(node="agent", queue="consult"),
            QueueJoined(queue="consult", position=1),
            AgentRinging(queue="consult", agent="PJSIP/agent1"),
            AgentConnected(queue="consult", agent="PJSIP/agent1", hold_time=3, ring_time=1),
            AgentCompleted(queue="consult", agent="PJSIP/agent1", talk_time=60, hold_time=3,
                           reason="caller"),
            *_survey_and_goodbye()]


def interleaved(calls: int, tag: str) -> list[ContactEvent]:
    """The calls' events as a loaded bridge records them: each call one step on in turn."""
    timelines = []
    for n in range(calls):
        linkedid = f"bench-{tag}-{n}"
        start = CallStarted(caller=f"139{n:08d}", channel=f"PJSIP/caller-{n:08x}",
                            uniqueid=f"{n}.1")
        body = faq_call() if n % 2 == 0 else agent_call()
        records = [start, *body, CallEnded(cause=16, cause_txt="Normal Clearing",
                                           reconciled=False)]
        timelines.append([ContactEvent(linkedid, record, at=T0 + timedelta(seconds=step))
                          for step, record in enumerate(records)])
    out: list[ContactEvent] = []
    for step in range(max(len(t) for t in timelines)):
        out.extend(t[step] for t in timelines if step < len(t))
    return out


def measure(url: str, kind: str, calls: int, batch: int) -> None:
    db = Database(url)
    service = ContactService(db)
    for way in ("one", "batch"):
        events = interleaved(calls, way)
        wall, cpu = time.perf_counter(), os.times()
        if way == "one":
            for event in events:
                service.apply(event)
        else:
            for start in range(0, len(events), batch):
                service.apply_batch(events[start:start + batch])
        after = os.times()
        cpu_s = (after.user - cpu.user) + (after.system - cpu.system)
        print(json.dumps({
            "db": kind, "way": way, "batch": batch if way == "batch" else 1, "calls": calls,
            "events": len(events), "cpu_s_per_call": round(cpu_s / calls, 4),
            "cpu_us_per_event": round(cpu_s / len(events) * 1e6),
            "wall_s": round(time.perf_counter() - wall, 2)}))
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        for kind in ("sqlite", "postgresql"):
            with database(kind, Path(directory)) as url:
                measure(url, kind, args.calls, args.batch)


if __name__ == "__main__":
    main()
