"""The callback requests as the dialler and the console's preview work them.

Every change that decides who works a request is one conditional ``UPDATE`` (status, claim and
agent in its ``WHERE``), so that two diallers (two bridges, or a bridge restarted while the old
process still ran) never both offer or dial one request: the one whose update changed the row
has it, the other sees 0 rows. A claim older than ``claim_timeout`` (its process died) may be
taken over. Refusals are :class:`OutboundError` with their HTTP status and a Chinese reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, CursorResult, Update, and_, or_, select, update
from sqlalchemy.orm import Session

from callcenter.auth.services import audit
from callcenter.contacts.models import Contact
from callcenter.db import Database
from callcenter.errors import DomainError
from callcenter.outbound.policy import DialResult, NextStep
from callcenter.tickets.models import CallbackRequest, CallbackStatus
from ivr.clock import Clock

STATUS_TITLES = {"pending": "待回电", "offered": "预览中", "dialling": "正在拨号",
                 "done": "已回电", "failed": "回电失败", "cancelled": "已取消"}
IN_HAND = (CallbackStatus.OFFERED, CallbackStatus.DIALLING)


def _changed(session: Session, statement: Update) -> int:
    """Run one conditional UPDATE; the number of rows it changed."""
    result = session.execute(statement.execution_options(synchronize_session=False))
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


class OutboundError(DomainError):
    """A request on an outbound callback that cannot be honoured (409 unless said)."""


@dataclass(frozen=True)
class DueCallback:
    """A due request with what the preview needs from its original contact."""

    id: int
    number: str
    reason: str
    queue: str | None       # the request's, else the queue of the call it came from
    owner: str | None
    attempts: int
    created_at: datetime
    linkedid: str           # the original contact


class CallbackBook:
    def __init__(self, db: Database, clock: Clock, claim_timeout_s: float = 600.0) -> None:
        self.db = db
        self.clock = clock
        self.claim_timeout = timedelta(seconds=claim_timeout_s)

    def _claimable(self, at: datetime) -> ColumnElement[bool]:
        c = CallbackRequest
        return or_(and_(c.status == CallbackStatus.PENDING, c.due_at <= at),
                   and_(c.status.in_([str(s) for s in IN_HAND]),
                        c.claimed_at < at - self.claim_timeout))

    def due(self, at: datetime, limit: int = 50) -> list[DueCallback]:
        """Requests due at ``at`` (and stale claims), oldest due first."""
        c = CallbackRequest
        with self.db.session() as session:
            rows = session.execute(
                select(c, Contact.queue).outerjoin(Contact, Contact.linkedid == c.linkedid)
                .where(self._claimable(at)).order_by(c.due_at, c.id).limit(limit)).all()
            return [DueCallback(id=r.id, number=r.number, reason=r.reason,
                                queue=r.queue or queue, owner=r.owner, attempts=r.attempts,
                                created_at=r.created_at, linkedid=r.linkedid)
                    for r, queue in rows]

    def claim(self, callback_id: int, node: str, agent: str, attempt_linkedid: str) -> bool:
        """Offer the request to ``agent`` for this dialler (``node``); False when another
        dialler has it or it is no longer due."""
        at = self.clock()
        c = CallbackRequest
        with self.db.transaction() as session:
            changed = _changed(session, (
                update(c).where(c.id == callback_id, self._claimable(at)))
                .values(status=CallbackStatus.OFFERED, claimed_by=node, claimed_at=at,
                        offered_to=agent, decision=None, attempt_linkedid=attempt_linkedid))
        return changed == 1

    def get(self, callback_id: int) -> CallbackRequest | None:
        with self.db.session() as session:
            return session.get(CallbackRequest, callback_id)

    def decision(self, callback_id: int, node: str) -> str | None:
        """The agent's decision on this dialler's offer (None: none yet); ``lost`` when the
        request is no longer this dialler's."""
        request = self.get(callback_id)
        if request is None or request.claimed_by != node or request.status not in IN_HAND:
            return "lost"
        return request.decision

    def decide(self, callback_id: int, username: str, decision: str) -> CallbackRequest:
        """The agent accepts or skips the preview offered to them (by one UPDATE)."""
        c = CallbackRequest
        with self.db.transaction() as session:
            changed = _changed(session, (
                update(c).where(c.id == callback_id, c.status == CallbackStatus.OFFERED,
                                c.offered_to == username, c.decision.is_(None)))
                .values(decision=decision))
            request = session.get(CallbackRequest, callback_id)
            if request is None:
                raise OutboundError(f"回电请求 {callback_id} 不存在", 404)
            if changed != 1:
                raise OutboundError(self._why_not(request, username))
            audit(session, username, f"callback.{decision}", str(callback_id), at=self.clock())
            session.flush()
            return request

    @staticmethod
    def _why_not(request: CallbackRequest, username: str) -> str:
        status = STATUS_TITLES.get(request.status, request.status)
        if request.status in (CallbackStatus.DONE, CallbackStatus.FAILED,
                              CallbackStatus.CANCELLED):
            return f"回电请求 {request.id} 已结束（{status}），不能再操作"
        if request.status == CallbackStatus.PENDING:
            return f"回电请求 {request.id} 当前未分配给任何坐席（{status}）"
        if request.offered_to != username:
            return f"回电请求 {request.id} 已分配给坐席 {request.offered_to}"
        return f"回电请求 {request.id} 已在处理中（{status}），不能再选择"

    def start_dial(self, callback_id: int, node: str) -> bool:
        c = CallbackRequest
        with self.db.transaction() as session:
            changed = _changed(session, (
                update(c).where(c.id == callback_id, c.claimed_by == node,
                                c.status == CallbackStatus.OFFERED)
                .values(status=CallbackStatus.DIALLING, claimed_at=self.clock())))
        return changed == 1

    def finish(self, callback_id: int, node: str, result: DialResult, step: NextStep) -> bool:
        """Close or reschedule the request after an attempt of this dialler (``step`` from the
        retry policy); False when the request was no longer this dialler's."""
        c = CallbackRequest
        at = self.clock()
        values: dict[str, object] = {"status": step.status, "attempts": step.attempts,
                                     "result": str(result), "claimed_by": None,
                                     "claimed_at": None, "decision": None}
        if step.closed:
            values["done_at"] = at
        else:
            values["due_at"] = step.due_at
            values["offered_to"] = None
        with self.db.transaction() as session:
            changed = _changed(session, (
                update(c).where(c.id == callback_id, c.claimed_by == node,
                                c.status.in_([str(s) for s in IN_HAND])))
                .values(**values))
            if changed == 1:
                audit(session, "dialler", "callback.attempt", str(callback_id), at=at,
                      node=node, result=str(result), status=str(step.status))
        return changed == 1

    def wrong_number(self, callback_id: int, username: str, boss: bool) -> CallbackRequest:
        """The agent who reached the number found it was the wrong one: closed, failed."""
        c = CallbackRequest
        with self.db.transaction() as session:
            who = [] if boss else [c.offered_to == username]
            changed = _changed(session, (
                update(c).where(c.id == callback_id, c.status == CallbackStatus.DONE,
                                c.result == str(DialResult.REACHED), *who)
                .values(status=CallbackStatus.FAILED, result=str(DialResult.WRONG_NUMBER))))
            request = session.get(CallbackRequest, callback_id)
            if request is None:
                raise OutboundError(f"回电请求 {callback_id} 不存在", 404)
            if changed != 1:
                if request.status != CallbackStatus.DONE or request.result != DialResult.REACHED:
                    raise OutboundError(f"回电请求 {callback_id} 没有已接通的回电"
                                        f"（{STATUS_TITLES.get(request.status, request.status)}），"
                                        "不能标记为号码错误")
                raise OutboundError(f"回电请求 {callback_id} 不是您回拨的", 403)
            audit(session, username, "callback.wrong_number", str(callback_id), at=self.clock())
            session.flush()
            return request

    def dial_now(self, callback_id: int, agent: str, by: str) -> CallbackRequest:
        """A supervisor has a pending request called back now by ``agent`` (a staff member:
        the route checks the name)."""
        c = CallbackRequest
        at = self.clock()
        with self.db.transaction() as session:
            changed = _changed(session, (
                update(c).where(c.id == callback_id, c.status == CallbackStatus.PENDING)
                .values(owner=agent, due_at=at)))
            request = session.get(CallbackRequest, callback_id)
            if request is None:
                raise OutboundError(f"回电请求 {callback_id} 不存在", 404)
            if changed != 1:
                raise OutboundError(self._why_not(request, agent))
            audit(session, by, "callback.dial_now", str(callback_id), at=at, agent=agent)
            session.flush()
            return request

    def in_hand(self, node: str) -> Sequence[CallbackRequest]:
        """This dialler's offers and dials (after a restart: to be rescheduled)."""
        c = CallbackRequest
        with self.db.session() as session:
            return session.scalars(select(c).where(
                c.claimed_by == node, c.status.in_([str(s) for s in IN_HAND]))).all()
