"""What the statistics read from this package's tables: agents' state spans
(``agent_state_log``), through :class:`callcenter.stats.sources.AgentActivitySource`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select

from callcenter.agents.models import AgentStateChange as Change
from callcenter.db import Database
from ivr.clock import Clock


@dataclass(frozen=True)
class AgentStateSpan:
    """One span of an agent's state (``logged_out`` spans are not needed)."""

    agent: str
    state: str  # ready | paused | ringing | on_call | wrap_up
    start: datetime
    end: datetime
    reason: str = ""


class AgentStateLogSource:
    """Agent state spans from ``agent_state_log`` (one row per change; a span lasts until the
    agent's next change, or until now)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def spans(self, start: datetime, end: datetime) -> Sequence[AgentStateSpan]:
        now = self.clock()
        with self.db.session() as session:
            before = (select(Change.username, func.max(Change.at).label("at"))
                      .where(Change.at < start).group_by(Change.username).subquery())
            opening = session.execute(
                select(Change.username, Change.state, Change.reason, Change.at)
                .join(before, and_(before.c.username == Change.username,
                                   before.c.at == Change.at))
            ).all()
            changes = session.execute(
                select(Change.username, Change.state, Change.reason, Change.at)
                .where(Change.at >= start, Change.at < end)
                .order_by(Change.username, Change.at, Change.id)
            ).all()
        per_agent: dict[str, list[tuple[str, str, datetime]]] = {}
        for user, state, reason, at in [*opening, *changes]:
            per_agent.setdefault(str(user), []).append((str(state), str(reason or ""), at))
        spans: list[AgentStateSpan] = []
        for agent, items in per_agent.items():
            items.sort(key=lambda i: i[2])
            for i, (state, reason, at) in enumerate(items):
                until = items[i + 1][2] if i + 1 < len(items) else min(end, now)
                if state == "logged_out" or until <= at:
                    continue
                spans.append(AgentStateSpan(agent, state, max(at, start), until, reason))
        return spans
