"""What the statistics read from the contact log outside the rollups: the contacts still open
(the live wallboard) and contact-level export rows, through
:class:`callcenter.stats.sources.ContactSource`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select

from callcenter.contacts.models import Contact
from callcenter.db import Database


@dataclass(frozen=True)
class QueueWaiting:
    queue: str
    waiting: int
    since: datetime | None  # the earliest queue join of those waiting


@dataclass(frozen=True)
class OpenContacts:
    """Contacts not ended yet (started since a moment): calls in a queue, in the IVR, with
    agents; open contacts of every medium."""

    queues: list[QueueWaiting]
    in_ivr: int
    on_call: int
    busy_agents: list[str]
    by_medium: dict[str, int]  # open contacts per medium (a web consultation awaiting reply...)


class ContactTableSource:
    def __init__(self, db: Database) -> None:
        self.db = db

    def open_contacts(self, since: datetime) -> OpenContacts:
        c = Contact
        is_open = and_(c.ended_at.is_(None), c.started_at >= since)
        is_call = and_(is_open, c.medium == "phone")  # queues, IVR and agents: calls only
        waiting = and_(is_call, c.queue_joined_at.is_not(None), c.agent_connected_at.is_(None))
        with self.db.session() as session:
            queue_name = func.coalesce(c.queue, "").label("queue")
            per_queue = session.execute(
                select(queue_name, func.count(), func.min(c.queue_joined_at))
                .where(waiting).group_by(queue_name)
            ).all()
            in_ivr, on_call = session.execute(
                # an outbound callback being dialled is no caller in the IVR
                select(func.count().filter(c.queue_joined_at.is_(None),
                                           c.direction == "inbound"),
                       func.count().filter(c.agent_connected_at.is_not(None)))
                .where(is_call)
            ).one()
            by_medium = {str(m): int(n) for m, n in session.execute(
                select(c.medium, func.count()).where(is_open).group_by(c.medium))}
            busy_agents = sorted(str(a) for a in session.scalars(
                select(c.agent).where(is_call, c.agent_connected_at.is_not(None)).distinct())
                if a)
        return OpenContacts(
            queues=[QueueWaiting(str(q), int(n), since) for q, n, since in per_queue],
            in_ivr=int(in_ivr or 0), on_call=int(on_call or 0), busy_agents=busy_agents,
            by_medium=by_medium)

    def contact_rows(self, start: datetime, end: datetime, medium: str | None = None
                     ) -> Iterator[Sequence[Any]]:
        """Every contact (of ``medium``, or of every one) started in [start, end), in order,
        streamed; the last two columns are the direction and the medium."""
        c = Contact
        where = [c.started_at >= start, c.started_at < end]
        if medium is not None:
            where.append(c.medium == medium)
        query = (select(c.id, c.linkedid, c.caller_number, c.started_at, c.ended_at, c.outcome,
                        c.queue, c.agent, c.ivr_seconds, c.queue_wait_seconds, c.talk_seconds,
                        c.last_node, c.reconciled, c.direction, c.medium)
                 .where(*where)
                 .order_by(c.started_at, c.id)
                 .execution_options(yield_per=5000, stream_results=True))
        with self.db.session() as session:
            yield from session.execute(query)
