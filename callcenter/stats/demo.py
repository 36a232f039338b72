"""Demo history for the dashboard: ``hotline demo seed --contacts N``.

Realistic shape, not real data:

* time of day: automatic voice answers around the clock (little at night); agents work
  08:30-12:00 and 13:30-17:30 (Shanghai), with the lunch dip between;
* weekdays busier than weekends; each month's filing period (days 1-15, peak on 10-15) busier;
  the annual individual income tax reconciliation (March-June, peak in March) and the corporate
  income tax settlement (January-May, peak in May) raise the volume;
* channel split: the province's ratio of automatic voice to manual contacts
  (156,763 : 120,143 of 277,266; the remaining 360 are "other": abandoned, messages...);
* waits, talk times, surveys, menu paths and FAQ ids drawn from plausible distributions.

Rows are written in bulk (contacts and the timeline events the statistics read), then the
rollups are rebuilt.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select

from callcenter.contacts.models import Contact, ContactEventRow
from callcenter.db import Database
from callcenter.settings import PROJECT_ROOT
from callcenter.stats import labels
from callcenter.stats.labels import FaqEntry
from ivr.clock import Clock
from ivr.events import (
    AgentCompleted,
    AgentConnected,
    CallEnded,
    CallStarted,
    Escalated,
    EventRecord,
    FaqPlayed,
    MenuNodeEntered,
    OutcomeSet,
    QueueAbandoned,
    QueueJoined,
    SelfService,
    Survey,
    TicketCreated,
    Transfer,
)

AUTOMATIC_VOICE, MANUAL, TOTAL = 156_763, 120_143, 277_266
OTHER = TOTAL - AUTOMATIC_VOICE - MANUAL  # 360

FALLBACK_FAQS = ["vat.law.effective_date", "vat.rate.general", "iit.settlement.period",
                 "iit.special_deduction.children", "cit.rate.standard", "invoice.digital.issue"]
FAQ_NODES = ["faq_vat_law", "faq_vat_rates", "faq_vat_small", "faq_iit_deduction",
             "faq_iit_settlement", "faq_iit_rates", "faq_cit_rate", "faq_cit_small",
             "faq_cit_settlement", "faq_invoice_digital", "faq_invoice_red",
             "faq_invoice_verify", "faq_ssc_flexible", "faq_ssc_resident"]
CATEGORY_NODES = ["cat_vat", "cat_iit", "cat_cit", "cat_invoice", "cat_ssc"]
PAUSE_FREE_OTHER = ["abandoned_queue", "abandoned_ivr", "message_left", "callback_requested"]


DemoFaq = FaqEntry  # an entry of the knowledge base, as the FAQ node's faq_played event names it


def faq_entries(data_dir: Path = PROJECT_ROOT / "knowledge_base" / "data") -> list[DemoFaq]:
    return labels.faq_entries(data_dir) or [DemoFaq(faq_id, "", "") for faq_id in FALLBACK_FAQS]


def hour_weight(minute_of_day: int) -> float:
    """Relative call volume per minute of the day (Shanghai)."""
    h = minute_of_day / 60
    if h < 7:
        return 0.04
    if h < 8.5:
        return 0.3 + (h - 7) * 0.35
    if h < 12:
        return 1.0 if h < 11.5 else 0.85
    if h < 13.5:
        return 0.45  # lunch dip
    if h < 17.5:
        return 0.95 if h < 16.5 else 0.8
    if h < 21:
        return 0.3
    return 0.1


def manual_open(minute_of_day: int, day: date) -> bool:
    if day.weekday() >= 5:
        return False
    h = minute_of_day / 60
    return 8.5 <= h < 12 or 13.5 <= h < 17.5


def day_weight(day: date) -> float:
    weight = 1.0 if day.weekday() < 5 else 0.35
    if day.day <= 15:
        weight *= 1.25 if day.day < 10 else 1.6  # monthly filing period, peak before the 15th
    if day.month == 3:
        weight *= 1.6   # individual income tax annual reconciliation starts
    elif day.month in (4, 6):
        weight *= 1.25
    if day.month == 5:
        weight *= 1.45  # corporate income tax annual settlement ends 31 May
    if day.month in (1, 2):
        weight *= 1.1
    return weight


@dataclass
class SeedResult:
    contacts: int
    events: int
    first: datetime
    last: datetime
    by_channel: dict[str, int]


def seed(db: Database, contacts: int, *, clock: Clock, days: int = 365,
         end: date | None = None, rng_seed: int = 12366, timezone: str = "Asia/Shanghai",
         agents: int = 40, replace: bool = True, batch: int = 5000,
         other_share: float | None = None,
         progress: Callable[[int], None] | None = None) -> SeedResult:
    if contacts < 1:
        raise ValueError("--contacts must be at least 1")
    if days < 1:
        raise ValueError("--days must be at least 1")
    tz = ZoneInfo(timezone)
    rnd = random.Random(rng_seed)
    now = clock()
    end_day = end or now.astimezone(tz).date()
    day_list = [end_day - timedelta(days=days - 1 - i) for i in range(days)]
    day_weights = [day_weight(d) for d in day_list]
    minute_weights = [hour_weight(m) for m in range(1440)]
    open_share = _open_share(day_list, day_weights, minute_weights)
    p_other = OTHER / TOTAL if other_share is None else other_share
    if not 0 <= p_other < 1:
        raise ValueError("--other-share must be in [0, 1)")
    manual_share = MANUAL / (AUTOMATIC_VOICE + MANUAL) * (1 - p_other)
    p_manual = min(0.98, manual_share / open_share)
    faqs = faq_entries()
    agent_names = [f"agent{n:02d}" for n in range(1, agents + 1)]
    if replace:
        with db.transaction() as session:
            old = select(Contact.id).where(Contact.linkedid.like("demo-%"))
            session.execute(delete(ContactEventRow).where(ContactEventRow.contact_id.in_(old)))
            session.execute(delete(Contact).where(Contact.linkedid.like("demo-%")))
    days_drawn = rnd.choices(range(days), weights=day_weights, k=contacts)
    minutes_drawn = rnd.choices(range(1440), weights=minute_weights, k=contacts)
    starts = sorted(
        datetime.combine(day_list[d], datetime.min.time(), tz)
        + timedelta(minutes=m, seconds=rnd.random() * 60)
        for d, m in zip(days_drawn, minutes_drawn, strict=True)
    )
    starts = [s.astimezone(UTC) for s in starts if s.astimezone(UTC) < now] or [
        now - timedelta(hours=1)]
    tally: dict[str, int] = {"automatic_voice": 0, "manual": 0, "other": 0}
    n_events = 0
    for lo in range(0, len(starts), batch):
        rows: list[dict[str, Any]] = []
        timelines: list[list[tuple[float, EventRecord]]] = []
        for i, started in enumerate(starts[lo:lo + batch], lo):
            local = started.astimezone(tz)
            is_open = manual_open(local.hour * 60 + local.minute, local.date())
            row, timeline = _contact(rnd, i, rng_seed, started, is_open, p_manual, p_other,
                                     faqs, agent_names)
            rows.append(row)
            timelines.append(timeline)
            outcome = row["outcome"]
            key = ("manual" if outcome == "answered" else
                   "automatic_voice" if outcome == "self_service" else "other")
            tally[key] += 1
        with db.transaction() as session:
            ids = session.execute(
                insert(Contact).returning(Contact.id, sort_by_parameter_order=True), rows
            ).scalars().all()
            events = [
                {"contact_id": cid, "at": row["started_at"] + timedelta(seconds=offset),
                 "kind": str(record.KIND), "data": record.to_dict()}
                for cid, row, timeline in zip(ids, rows, timelines, strict=True)
                for offset, record in timeline
            ]
            session.execute(insert(ContactEventRow), events)
            n_events += len(events)
        if progress:
            progress(lo + len(rows))
    return SeedResult(len(starts), n_events, starts[0], starts[-1], tally)


def _open_share(day_list: list[date], day_weights: list[float],
                minute_weights: list[float]) -> float:
    total = opened = 0.0
    for d, dw in zip(day_list, day_weights, strict=True):
        for m, mw in enumerate(minute_weights):
            w = dw * mw
            total += w
            if manual_open(m, d):
                opened += w
    return opened / total if total else 1.0


def _contact(rnd: random.Random, i: int, seed_no: int, started: datetime, is_open: bool,
             p_manual: float, p_other: float, faqs: list[DemoFaq], agents: list[str]
             ) -> tuple[dict[str, Any], list[tuple[float, EventRecord]]]:
    """One contact's row and its timeline of typed records (ivr/events.py), as the IVR and
    the bridge would have written them."""
    caller = f"13{rnd.randrange(10**8, 10**9)}"
    t: list[tuple[float, EventRecord]] = [
        (0.0, CallStarted(caller=caller, channel=f"PJSIP/trunk-{i:08x}")),
        (0.5, MenuNodeEntered(node="welcome")), (6.0, MenuNodeEntered(node="main")),
    ]
    row: dict[str, Any] = {
        "linkedid": f"demo-{seed_no}-{i}", "caller_number": caller, "channel": "PJSIP/trunk",
        "started_at": started, "self_served": False, "reconciled": False,
        "queue": None, "agent": None, "queue_joined_at": None, "agent_connected_at": None,
        "queue_wait_seconds": None, "talk_seconds": None, "explicit_outcome": None,
        "ivr_end_reason": None, "last_node": "main", "hangup_cause": 16,
        "hangup_cause_txt": "Normal Clearing",
    }
    draw = rnd.random()
    if draw < p_other:
        kind = rnd.choice(PAUSE_FREE_OTHER)
    elif is_open and draw < p_other + p_manual:
        kind = "answered"
    else:
        kind = "self_service"
    at = 6.0 + rnd.uniform(3, 12)
    if kind in ("self_service", "abandoned_ivr") or rnd.random() < 0.3:
        cat = rnd.choice(CATEGORY_NODES)
        node = rnd.choice(FAQ_NODES)
        t += [(at, MenuNodeEntered(node=cat)), (at + 4, MenuNodeEntered(node=node))]
        row["last_node"] = node
        at += 5
        faq = rnd.choice(faqs[:40]) if rnd.random() < 0.7 else rnd.choice(faqs)
        if kind != "abandoned_ivr":
            t.append((at, FaqPlayed(node=node, faq_id=faq.id, question=faq.question,
                                    score=1.0, category=faq.category, via="key")))
            at += rnd.uniform(25, 70)
            if kind == "self_service":
                t.append((at, SelfService(node=node, service="faq", detail=faq.id)))
                row["self_served"] = True
            else:
                t.append((at, Escalated(node=node, faq_id=faq.id, queue="consult",
                                        reason="caller_asked")))
        else:
            at += rnd.uniform(1, 20)
    ivr_seconds = at
    if kind in ("answered", "abandoned_queue"):
        queue = "experts" if rnd.random() < 0.12 else "consult"
        joined = at + 1
        t += [(at, Transfer(node="agent", queue=queue)),
              (joined, QueueJoined(queue=queue, position=1))]
        row.update(queue=queue, queue_joined_at=started + timedelta(seconds=joined),
                   last_node="agent")
        if kind == "answered":
            wait = float(int(rnd.expovariate(1 / 18)))
            talk = float(int(min(3600, rnd.lognormvariate(math.log(200), 0.6))))
            agent = rnd.choice(agents)
            t += [(joined + wait, AgentConnected(queue=queue, agent=agent, hold_time=wait,
                                                 ring_time=2)),
                  (joined + wait + talk, AgentCompleted(
                      queue=queue, agent=agent, talk_time=talk, hold_time=wait,
                      reason="caller"))]
            row.update(agent=agent, agent_connected_at=started + timedelta(seconds=joined + wait),
                       queue_wait_seconds=wait, talk_seconds=talk)
            at = joined + wait + talk
        else:
            wait = float(int(rnd.expovariate(1 / 40)))
            t.append((joined + wait, QueueAbandoned(queue=queue, hold_time=wait, position=1)))
            row["queue_wait_seconds"] = wait
            at = joined + wait
    elif kind == "message_left":
        t += [(at + 40, TicketCreated(ticket_no=f"D{i:08d}",
                                      type=rnd.choice(["complaint", "report"]))),
              (at + 41, OutcomeSet(outcome="message_left"))]
        row["explicit_outcome"] = "message_left"
        at += 45
    elif kind == "callback_requested":
        t.append((at + 10, OutcomeSet(outcome="callback_requested")))
        row["explicit_outcome"] = "callback_requested"
        at += 15
    if kind in ("answered", "self_service") and rnd.random() < 0.7:
        score = rnd.choices([1, 2, 3, None], weights=[62, 12, 4, 22])[0]
        t.append((at + 2, Survey(score=score, node="survey")))
        at += 8
    at += 1
    t.append((at, CallEnded(cause=16, cause_txt="Normal Clearing")))
    row.update(outcome=kind, ended_at=started + timedelta(seconds=at), ivr_seconds=ivr_seconds)
    return row, t
