"""Outbound callbacks in the statistics (``GET /api/v1/stats/outbound``; docs/metrics.md
"Outbound callbacks"): counted apart from the inbound figures, which the rollups keep to
``contacts.direction = inbound``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from callcenter.contacts.models import Contact
from callcenter.db import Database
from callcenter.tickets.models import CallbackRequest

OUTCOME_RESULTS = {"answered": "reached", "no_answer": "no_answer", "busy": "busy",
                   "wrong_number": "wrong_number", "failed": "failed"}


class OutboundTableSource:
    def __init__(self, db: Database) -> None:
        self.db = db

    def outbound(self, start: datetime, end: datetime) -> dict[str, Any]:
        """Contacts by direction, the outbound attempts by result and their talk time,
        callback requests closed in the range by status, and those pending now."""
        c, r = Contact, CallbackRequest
        in_range = (c.started_at >= start, c.started_at < end, c.ended_at.is_not(None))
        with self.db.session() as session:
            by_direction = {str(d): int(n) for d, n in session.execute(
                select(c.direction, func.count()).where(*in_range).group_by(c.direction))}
            results = {str(o or "failed"): int(n) for o, n in session.execute(
                select(c.outcome, func.count())
                .where(*in_range, c.direction == "outbound").group_by(c.outcome))}
            talk = session.scalar(select(func.coalesce(func.sum(c.talk_seconds), 0.0))
                                  .where(*in_range, c.direction == "outbound")) or 0.0
            closed = {str(s): int(n) for s, n in session.execute(
                select(r.status, func.count()).where(r.done_at >= start, r.done_at < end)
                .group_by(r.status))}
            pending = session.scalar(select(func.count()).select_from(r).where(
                r.status.in_(("pending", "offered", "dialling")))) or 0
        attempts = by_direction.get("outbound", 0)
        by_result = {name: 0 for name in ("reached", "no_answer", "busy", "wrong_number",
                                          "failed")}
        for outcome, count in results.items():
            by_result[OUTCOME_RESULTS.get(outcome, "failed")] += count
        reached = by_result["reached"]
        return {
            "contacts_by_direction": {"inbound": by_direction.get("inbound", 0),
                                      "outbound": attempts},
            "attempts": attempts,
            "by_result": by_result,
            # the share of attempts where the taxpayer was reached (wrong numbers not)
            "reach_rate": round(reached / attempts, 4) if attempts else None,
            "talk_seconds": round(float(talk), 1),
            "avg_talk_seconds": round(float(talk) / reached, 1) if reached else None,
            "callbacks_closed": {"done": closed.get("done", 0),
                                 "failed": closed.get("failed", 0),
                                 "cancelled": closed.get("cancelled", 0)},
            "callbacks_pending": int(pending),
        }
