"""What the statistics read from this package's tables: the texts sent and what their delivery
reports made of them (``sms_messages.status``, moved forward only by the DLRs recorded in
``sms_delivery_reports``), through :class:`callcenter.stats.sources.SmsSource`. Read-only."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select

from callcenter.db import Database
from callcenter.sms.models import Direction, MtStatus, SmsMessage


@dataclass(frozen=True)
class DeliveryCount:
    key: int          # the caller's interval key of the texts' sending time
    status: str       # delivered | failed (also suppressed: never sent) | pending (held,
                      # queued, smsc, buffered)
    texts: int
    segments: int


def delivery_state(status: str) -> str:
    if status == MtStatus.DELIVERED:
        return "delivered"
    if status in (MtStatus.FAILED, MtStatus.SUPPRESSED):
        return "failed"
    return "pending"


class SmsTableSource:
    def __init__(self, db: Database) -> None:
        self.db = db

    def deliveries(self, start: datetime, end: datetime,
                   key: Callable[[Any], ColumnElement[int]]) -> Sequence[DeliveryCount]:
        """Texts sent (mobile-terminated) in [start, end), counted per ``key(sms_messages.at)``
        and status."""
        m = SmsMessage
        k = key(m.at).label("k")
        with self.db.session() as session:
            rows = session.execute(
                select(k, m.status, func.count(), func.coalesce(func.sum(m.segments), 0))
                .where(m.direction == str(Direction.MT), m.at >= start, m.at < end)
                .group_by(k, m.status)
            ).all()
        out: dict[tuple[int, str], list[int]] = {}
        for key_value, status, texts, parts in rows:
            cell = out.setdefault((int(key_value), delivery_state(str(status))), [0, 0])
            cell[0] += int(texts)
            cell[1] += int(parts)
        return [DeliveryCount(k_, s, t, p) for (k_, s), (t, p) in sorted(out.items())]
