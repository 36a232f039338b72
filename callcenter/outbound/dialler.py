"""The outbound callback dialler: one per bridge (one per Asterisk node; callcenter/roles.py).

Every ``poll_s`` (:meth:`CallbackDialler.tick`), inside service hours and with AMI up:

1. offers in hand: the agent accepted (``POST /callbacks/{id}/accept``) or the preview time
   ran out -> dial; skipped -> the agent is ready again and the request goes back, not offered
   to that agent again by this dialler;
2. due requests (callcenter/outbound/book.py: pending and due, or a stale claim) are offered
   to a ready agent of their queue (the request's, else the original call's; the owner only,
   when it has one): the request is claimed by one conditional UPDATE (no other dialler can
   have it), the agent is taken out of the queues (paused with reason 外呼回电, state
   振铃) and the console shows the preview card (``callback_preview``).

Dialling is AMI ``Originate`` of the agent's phone (agent first) into the dialplan's
``hotline-callback-out``, which dials the number through the configured trunk. The attempt is
its own contact (direction ``outbound``, linkedid = the channel id we give the agent's leg),
followed by the agent channel's ``DialBegin`` (the agent answered), ``DialEnd`` (the number's
answer, or no answer, busy...) and ``Hangup``; the result closes or reschedules the request
(callcenter/outbound/policy.py) and the agent goes to wrap-up. The AMI connection lost
mid-dial: every attempt in hand ends ``interrupted`` and its request is rescheduled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from callcenter.agents.models import AgentState
from callcenter.agents.services import AgentDesk
from callcenter.agents.state import CALLBACK_REASON, Agent, DeskError
from callcenter.contacts.models import Outcome
from callcenter.notify.messages import CallbackPreview, CallbackProgress
from callcenter.notify.services import Notifier
from callcenter.outbound.book import CallbackBook, DueCallback
from callcenter.outbound.policy import DIAL_STATUS, DialResult, RetryPolicy
from callcenter.sms.services import mask
from ivr.ami.client import AmiClient, AmiError
from ivr.ami.events import AmiEvent
from ivr.calendar import ServiceCalendar
from ivr.clock import Clock
from ivr.events import (
    AgentCompleted,
    AgentConnected,
    AgentRinging,
    CallbackDialled,
    CallEnded,
    CallStarted,
    EventRecord,
    OutcomeSet,
)
from ivr.ports import ContactEvent, ContactRecorder

log = logging.getLogger(__name__)

OUT_CONTEXT = "hotline-callback-out"  # ivr/pbx/asterisk/extensions.conf
OUTBOUND = "outbound"
# the contact's outcome of an attempt that did not reach the taxpayer
OUTCOMES = {DialResult.NO_ANSWER: Outcome.NO_ANSWER, DialResult.BUSY: Outcome.BUSY}


@dataclass
class Attempt:
    """One attempt in hand: offered to ``agent``, then dialled."""

    callback: DueCallback
    agent: Agent
    linkedid: str
    number: int                 # the attempt's number (1 = the first)
    offered_at: datetime
    stage: str = "offered"      # offered | dialling | calling | connected
    decision: str | None = None
    result: DialResult | None = None
    connected_at: datetime | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True)
class DiallerConfig:
    node: str
    trunk: str = "PJSIP/{number}@callee"
    caller_id: str = "12366"
    preview_s: float = 30.0
    agent_ring_s: float = 20.0
    ring_s: int = 30
    poll_s: float = 1.0


class CallbackDialler:
    def __init__(self, book: CallbackBook, policy: RetryPolicy, desk: AgentDesk,
                 ami: AmiClient, recorder: ContactRecorder, calendar: ServiceCalendar,
                 notifier: Notifier, config: DiallerConfig, *, clock: Clock) -> None:
        self.book = book
        self.policy = policy
        self.desk = desk
        self.ami = ami
        self.recorder = recorder
        self.calendar = calendar
        self.notifier = notifier
        self.config = config
        self.clock = clock
        self.attempts: dict[int, Attempt] = {}      # by callback id
        self.skipped: dict[int, set[str]] = {}      # agents who skipped a request
        self.dialled = 0
        self.interrupted = 0
        # attempts ended by a lost connection whose agent leg may still be up
        self.detached: dict[str, Attempt] = {}
        self._task: asyncio.Task[None] | None = None
        # one tick at a time: two at once (the loop's and a caller's) would both dial an
        # offer whose preview ran out, and the one that lost the claim would drop the attempt
        self._ticking = asyncio.Lock()
        ami.on(AmiEvent, self.on_event)
        ami.on_disconnect(self._disconnected)

    # -- running --------------------------------------------------------------------------

    async def start(self) -> None:
        """Requests this node held when its previous process stopped are rescheduled, then
        the loop starts. The AMI connection (the Originate-only account, shared with hold and
        the supervisors' phones) is its owner's to start and close: the runtime's."""
        left = await asyncio.to_thread(self.book.in_hand, self.config.node)
        for request in left:
            step = self.policy.after(DialResult.INTERRUPTED, request.attempts, self.clock())
            await asyncio.to_thread(self.book.finish, request.id, self.config.node,
                                    DialResult.INTERRUPTED, step)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="dialler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("callback dialler tick failed")
            await asyncio.sleep(self.config.poll_s)

    def health(self) -> dict[str, Any]:
        return {"in_hand": len(self.attempts), "dialled": self.dialled,
                "interrupted": self.interrupted}

    # -- one step ---------------------------------------------------------------------------

    async def tick(self) -> None:
        async with self._ticking:
            await self._tick()

    async def _tick(self) -> None:
        now = self.clock()
        for attempt in list(self.attempts.values()):
            if attempt.stage == "offered":
                await self._follow_offer(attempt, now)
        if not self.ami.ready or not self.calendar.is_open(now):
            return
        due = await asyncio.to_thread(self.book.due, now)
        for callback in due:
            if callback.id in self.attempts:
                continue
            agent = self._free_agent(callback)
            if agent is None:
                continue
            await self._offer(callback, agent, now)

    def _free_agent(self, callback: DueCallback) -> Agent | None:
        busy = {a.agent.username for a in self.attempts.values()}
        skipped = self.skipped.get(callback.id, set())
        ready = [a for a in self.desk.agents.values()
                 if a.state is AgentState.READY and a.interface
                 and a.username not in busy and a.username not in skipped
                 and (callback.owner is None or a.username == callback.owner)
                 and (callback.queue is None or callback.queue in a.queues)]
        # the longest ready first (as a queue's longest-idle strategy would)
        return min(ready, key=lambda a: a.since) if ready else None

    async def _offer(self, callback: DueCallback, agent: Agent, now: datetime) -> None:
        linkedid = f"cb-{callback.id}-{callback.attempts + 1}-{uuid.uuid4().hex[:8]}"
        claimed = await asyncio.to_thread(self.book.claim, callback.id, self.config.node,
                                          agent.username, linkedid)
        if not claimed:
            return  # another dialler has it (or it was cancelled meanwhile)
        attempt = Attempt(callback, agent, linkedid, callback.attempts + 1, now)
        if not await self._reserve(attempt):
            step = self.policy.after(DialResult.AGENT_MISSED, callback.attempts, now)
            await asyncio.to_thread(self.book.finish, callback.id, self.config.node,
                                    DialResult.AGENT_MISSED, step)
            return
        self.attempts[callback.id] = attempt
        card = await self.desk.cards.build(callback.linkedid, callback.number,
                                           callback.queue or "", None)
        preview = self.config.preview_s
        self.notifier.callback_preview(agent.username, CallbackPreview(
            callback_id=callback.id, linkedid=linkedid, number_masked=mask(callback.number),
            reason=callback.reason, queue=callback.queue, attempt=attempt.number,
            max_attempts=self.policy.max_attempts,
            requested_at=callback.created_at.isoformat(), origin_linkedid=callback.linkedid,
            ivr_path_labels=card.ivr_path_labels,
            faqs=tuple(str(f.get("question") or f.get("id")) for f in card.faqs),
            asked=card.asked, taxpayer=card.taxpayer,
            auto_dial_s=preview if preview > 0 else None))

    async def _reserve(self, attempt: Attempt) -> bool:
        """Take the agent out of the queues for the callback (paused with reason 外呼回电)."""
        agent = attempt.agent
        try:
            return await self.desk.transitions.reserve(
                agent, CALLBACK_REASON, linkedid=attempt.linkedid,
                queue=attempt.callback.queue, caller=mask(attempt.callback.number))
        except DeskError as exc:
            log.warning("callback %s: agent %s not paused: %s", attempt.callback.id,
                        agent.username, exc)
            return False

    async def _release(self, attempt: Attempt) -> None:
        """The agent back to ready (a skipped preview, a phone not answered)."""
        await self.desk.transitions.release(attempt.agent, CALLBACK_REASON, attempt.linkedid)

    async def _follow_offer(self, attempt: Attempt, now: datetime) -> None:
        decision = await asyncio.to_thread(self.book.decision, attempt.callback.id,
                                           self.config.node)
        if decision == "lost":
            # cancelled by someone, or taken over after a stale claim
            self.attempts.pop(attempt.callback.id, None)
            await self._release(attempt)
            return
        preview = self.config.preview_s
        expired = preview <= 0 or (now - attempt.offered_at).total_seconds() >= preview
        if decision == "skip":
            self.skipped.setdefault(attempt.callback.id, set()).add(attempt.agent.username)
            await self._finish(attempt, DialResult.SKIPPED, record=False)
            return
        if decision == "accept" or expired:
            attempt.decision = decision or "auto"
            await self._dial(attempt)

    # -- dialling ----------------------------------------------------------------------------

    def _record(self, attempt: Attempt, record: EventRecord, at: datetime | None = None
                ) -> None:
        self.recorder.record(ContactEvent(attempt.linkedid, record, at=at or self.clock()))

    def _step(self, attempt: Attempt, stage: str, status: str | None = None,
              by: str | None = None, at: datetime | None = None) -> None:
        self._record(attempt, CallbackDialled(
            callback_id=attempt.callback.id, attempt=attempt.number, stage=stage,
            agent=attempt.agent.username, status=status, queue=attempt.callback.queue, by=by),
            at)

    def _progress(self, attempt: Attempt, stage: str, **extra: Any) -> None:
        self.notifier.callback_progress(attempt.agent.username, CallbackProgress(
            callback_id=attempt.callback.id, linkedid=attempt.linkedid, stage=stage, **extra))

    def dial_string(self, number: str) -> str:
        if not number.isdigit():
            raise ValueError(f"not a number to dial: {number!r}")
        return self.config.trunk.replace("{number}", number)

    async def _dial(self, attempt: Attempt) -> None:
        callback, agent = attempt.callback, attempt.agent
        started = await asyncio.to_thread(self.book.start_dial, callback.id, self.config.node)
        if not started:
            # cancelled or taken over meanwhile (this attempt only: never another's)
            if self.attempts.get(callback.id) is attempt:
                del self.attempts[callback.id]
                await self._release(attempt)
            return
        attempt.stage = "dialling"
        queue = callback.queue or ""
        self._record(attempt, CallStarted(caller=callback.number, channel=agent.interface,
                                          uniqueid=attempt.linkedid, direction=OUTBOUND),
                     attempt.offered_at)
        self._step(attempt, "offered", by=attempt.decision, at=attempt.offered_at)
        self._record(attempt, AgentRinging(queue=queue, agent=agent.username))
        self.dialled += 1
        assert agent.interface is not None
        action = {
            "Action": "Originate", "Channel": agent.interface, "Context": OUT_CONTEXT,
            "Exten": callback.number, "Priority": "1", "Async": "true",
            "Timeout": str(int(self.config.agent_ring_s * 1000)),
            "ChannelId": attempt.linkedid,
            # the agent's phone shows the number being called back
            "CallerID": f"回电 <{callback.number}>",
            "Variable": [f"HOTLINE_DIAL={self.dial_string(callback.number)}",
                         f"HOTLINE_RING_S={self.config.ring_s}",
                         f"HOTLINE_CALLER_ID={self.config.caller_id}",
                         f"HOTLINE_CALLBACK={callback.id}"],
        }
        self._progress(attempt, "dialling")
        try:
            response = await self.ami.send_action(action, as_list=False)
        except AmiError as exc:
            # not sent, or no answer: the request goes back; the agent is ready again (a leg
            # that started after all is still followed to its hang-up)
            log.warning("callback %s: Originate not sent: %s", callback.id, exc)
            self.detached[attempt.linkedid] = attempt
            await self._finish(attempt, DialResult.INTERRUPTED)
            await self._release(attempt)
            return
        if str(response.get("Response")) not in ("Success", "Follows"):
            log.warning("callback %s: Originate refused: %s", callback.id,
                        response.get("Message"))
            await self._finish(attempt, DialResult.AGENT_MISSED)

    # -- what Asterisk reports about the agent's leg -------------------------------------

    def _attempt_of(self, event: AmiEvent) -> Attempt | None:
        uniqueid = event.header("Uniqueid")
        if not uniqueid.startswith("cb-"):
            return None
        for attempt in self.attempts.values():
            if attempt.linkedid == uniqueid and attempt.stage != "offered":
                return attempt
        return None

    async def on_event(self, event: AmiEvent) -> None:
        name = event.name.lower()
        if name not in ("dialbegin", "dialend", "hangup"):
            return
        attempt = self._attempt_of(event)
        if attempt is None:
            detached = self.detached.pop(event.header("Uniqueid"), None)
            if detached is not None and name == "hangup":
                agent = detached.agent
                if agent.linkedid == detached.linkedid and agent.state in (
                        AgentState.RINGING, AgentState.ON_CALL):
                    await self.desk.transitions.enter_wrapup(agent, detached.linkedid)
            elif detached is not None:
                self.detached[detached.linkedid] = detached
            return
        if name == "dialbegin" and attempt.stage == "dialling":
            # the agent answered; the dialplan now dials the number (told before anything
            # awaits, so that the number's answer cannot be told first)
            attempt.stage = "calling"
            self._step(attempt, "agent_answered")
            self._progress(attempt, "calling")
            async with self.desk.transitions.lock:
                # (the call may have ended while this waited for the lock)
                if (attempt.agent.linkedid == attempt.linkedid
                        and self.attempts.get(attempt.callback.id) is attempt):
                    await self.desk.transitions.set(attempt.agent, AgentState.ON_CALL,
                                                    CALLBACK_REASON, by=None,
                                                    linkedid=attempt.linkedid)
        elif name == "dialend":
            status = event.header("DialStatus").upper()
            result = DIAL_STATUS.get(status, DialResult.FAILED)
            attempt.result = result
            self._step(attempt, "result", status=str(result))
            if result is DialResult.REACHED:
                attempt.stage = "connected"
                attempt.connected_at = self.clock()
                self._record(attempt, AgentConnected(queue=attempt.callback.queue or "",
                                                     agent=attempt.agent.username))
                self._progress(attempt, "connected")
        elif name == "hangup":
            cause = event.header("Cause")
            if attempt.result is None and attempt.stage == "dialling":
                attempt.result = DialResult.AGENT_MISSED
                self._step(attempt, "result", status=str(DialResult.AGENT_MISSED))
            await self._finish(attempt, attempt.result or DialResult.NO_ANSWER,
                               cause=int(cause) if cause.isdigit() else 16,
                               cause_txt=event.header("Cause-txt"))

    # -- the end of an attempt -------------------------------------------------------------

    async def _finish(self, attempt: Attempt, result: DialResult, *, record: bool = True,
                      cause: int = 0, cause_txt: str = "", reconciled: bool = False) -> None:
        if self.attempts.get(attempt.callback.id) is not attempt:
            return
        del self.attempts[attempt.callback.id]
        now = self.clock()
        if record:
            if attempt.connected_at is not None:
                talk = (now - attempt.connected_at).total_seconds()
                self._record(attempt, AgentCompleted(queue=attempt.callback.queue or "",
                                                     agent=attempt.agent.username,
                                                     talk_time=round(talk, 1),
                                                     reason="callback"))
            else:
                if result is DialResult.INTERRUPTED:
                    self._step(attempt, "result", status=str(result))
                self._record(attempt, OutcomeSet(outcome=str(OUTCOMES.get(result,
                                                                          Outcome.FAILED))))
            self._record(attempt, CallEnded(cause=cause, cause_txt=cause_txt or None,
                                            reconciled=reconciled or None))
        step = self.policy.after(result, attempt.callback.attempts, now)
        kept = await asyncio.to_thread(self.book.finish, attempt.callback.id, self.config.node,
                                       result, step)
        if not kept:
            log.warning("callback %s: no longer this dialler's; result %s not stored",
                        attempt.callback.id, result)
        self._progress(attempt, "ended", result=str(result),
                       next="closed" if step.closed else "rescheduled",
                       due_at=step.due_at.isoformat() if step.due_at else None)
        if attempt.stage in ("calling", "connected") and result is not DialResult.INTERRUPTED:
            await self.desk.transitions.enter_wrapup(attempt.agent, attempt.linkedid)
        elif result is not DialResult.INTERRUPTED:
            await self._release(attempt)
        attempt.done.set()

    def _disconnected(self) -> None:
        """The AMI connection was lost: every dial in hand ends interrupted (its request
        rescheduled; offers not yet dialled stay offered). Its agent is followed on: the
        desk's resync after the reconnection, or the leg's hang-up, ends the agent's call."""
        for attempt in list(self.attempts.values()):
            if attempt.stage != "offered":
                self.interrupted += 1
                self.detached[attempt.linkedid] = attempt
                asyncio.get_running_loop().create_task(
                    self._finish(attempt, DialResult.INTERRUPTED, cause=0,
                                 cause_txt="AMI connection lost", reconciled=True),
                    name=f"dialler interrupted {attempt.callback.id}")
