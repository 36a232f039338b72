"""Consultative transfer: the agent talks to the expert seat before handing the caller over
(docs/console.md "Consultative transfer").

Asterisk's own attended transfer does the call handling (measured on the sandbox by
``tests/callcenter/test_consult_pbx.py``):

1. consult: ``Setvar`` of ``__HOTLINE_CONSULT_QUEUE`` / ``__HOTLINE_CONSULT_RING_S`` on the
   agent's channel, then ``Atxfer`` of that channel to ``1@hotline-consult`` (the transfer
   feature, features.conf, allowed by the queue's option t): the caller is held in the queue
   call's bridge and hears music on hold, the agent is bridged to ``Local/1@hotline-consult``,
   whose other side queues for the expert seat (``Queue(<queue>,r)``: the agent hears it ring);
2. complete: ``Hangup`` of the agent's channel: Asterisk bridges the caller to the expert's
   leg; the first agent's queue call ends (``AgentComplete``, reason transfer: wrap-up);
3. three-way: the transfer's ``atxferthreeway`` code (``*3``) received on the agent's channel
   (``PlayDTMF`` with ``Receive``): caller, agent and expert in one bridge (bridge_softmix);
   any one may hang up and the other two stay connected;
4. cancel: ``CancelAtxfer``: the expert's leg ends, the agent is back with the caller.

When no expert answers within ``ring_s`` seconds the desk cancels the transfer and tells the
agent (``no_answer``): the caller is back with them. Each step is a ``consult`` event of the
contact, a ``consult_changed`` notification to both agents and (the agent's requests) a line of
the audit log. The expert's queue call (connect, talk time, complete) is in the contact's
timeline like the first agent's (ivr/bridge.py follows the consultation's Local leg).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from callcenter.agents.hold import CallHold
from callcenter.agents.members import QueueMembers
from callcenter.agents.models import AgentState
from callcenter.agents.state import CONSULT_REASON, STATE_TITLES, Agent, AgentStore, DeskError
from callcenter.notify.messages import ConsultChanged
from callcenter.notify.services import Notifier
from callcenter.queues.services import QueueService
from ivr.ami.events import AmiEvent
from ivr.clock import Clock
from ivr.events import AgentCompleted, AgentConnected, AgentRinging, Consulted, Json
from ivr.ports import ContactEvent, ContactRecorder

if TYPE_CHECKING:
    from callcenter.agents.cards import CallCards
    from callcenter.agents.notifier import DeskNotifier
    from callcenter.agents.transitions import AgentTransitions

log = logging.getLogger(__name__)

CONSULT_CONTEXT = "hotline-consult"  # ivr/pbx/asterisk/extensions.conf
CONSULT_EXTEN = "1"
THREE_WAY_CODE = "*3"  # atxferthreeway, ivr/pbx/asterisk/features.conf
DEFAULT_QUEUE = "experts"

MESSAGES = {
    "calling": "正在呼叫专家坐席（{queue}），来电方正在听保持音乐",
    "talking": "专家 {expert} 已接听，可与专家沟通后选择完成转接、三方通话或取消",
    "no_answer": "专家坐席（{queue}）在 {ring_s} 秒内无人应答，已取消咨询，来电已回到您的通话",
    "completed": "已完成转接：来电方已与专家 {expert} 通话",
    "conference": "三方通话中：来电方、您与专家 {expert}",
    "cancelled": "已取消咨询，来电已回到您的通话",
    "ended": "通话已结束，咨询转接终止",
    "left": "专家 {expert} 已挂断，咨询结束，来电已回到您的通话",
}
# a consultation of one named agent: both agents are named
NAMED_MESSAGES = {
    "calling": "坐席 {agent} 正在呼叫坐席 {named} 咨询，来电方正在听保持音乐",
    "talking": "坐席 {named} 已接听坐席 {agent} 的咨询，可沟通后选择完成转接、三方通话或取消",
    "no_answer": "坐席 {named} 在 {ring_s} 秒内未接听，已取消咨询，来电已回到坐席 {agent} 的通话",
    "completed": "已完成转接：来电方已与坐席 {named} 通话",
    "conference": "三方通话中：来电方、坐席 {agent} 与坐席 {named}",
    "cancelled": "坐席 {agent} 已取消对坐席 {named} 的咨询，来电已回到坐席 {agent} 的通话",
    "ended": "通话已结束，坐席 {agent} 对坐席 {named} 的咨询转接终止",
    "left": "坐席 {named} 已挂断，咨询结束，来电已回到坐席 {agent} 的通话",
}


@dataclass
class Consultation:
    """One agent's consultation in progress."""

    agent: str
    linkedid: str
    queue: str
    agent_channel: str
    started_at: datetime
    caller_channel: str | None = None  # the caller's own channel (the expert's after complete)
    step: str = "calling"  # calling -> talking
    expert: str | None = None
    timer: asyncio.Task[None] | None = None
    # the agent's decision while its AMI action is under way: the call's end that the
    # action itself causes (complete hangs the agent's leg up) is the decision's, not an end
    deciding: str | None = None
    named: str | None = None  # the agent consulted by name (None: a queue)
    outcome: str | None = None  # how it ended: completed, conference, cancelled, no_answer...


@dataclass
class NamedLeg:
    """The named agent's phone call of a consultation (Dial from ``hotline-consult``): its
    channel, from ``DialBegin``, followed to its ``Hangup``."""

    consult: Consultation
    channel: str
    uniqueid: str
    dialled_at: datetime
    answered_at: datetime | None = None


class ConsultTransfer:
    def __init__(self, store: AgentStore, members: QueueMembers, queues: QueueService,
                 notifier: Notifier, hold: CallHold, *, clock: Clock,
                 recorder: ContactRecorder | None = None, ring_s: float = 30.0,
                 transitions: AgentTransitions | None = None, cards: CallCards | None = None,
                 notify: DeskNotifier | None = None) -> None:
        self.store = store
        # the named agent's reservation, call card and call (None: queues only)
        self.transitions = transitions
        self.cards = cards
        self.notify = notify
        self.legs: dict[str, NamedLeg] = {}  # the named agents' calls, by their uniqueid
        self.members = members
        self.queues = queues
        self.notifier = notifier
        self.hold = hold
        self.clock = clock
        self.recorder = recorder
        self.ring_s = ring_s
        self.active: dict[str, Consultation] = {}  # by the first agent's username
        self.lock = asyncio.Lock()

    # -- the agent's requests -------------------------------------------------------------

    async def start(self, agent: Agent, queue: str | None, *, notes: str | None = None,
                    named: str | None = None) -> dict[str, Json]:
        """Hold the caller and ring the expert seat (``queue``, default ``experts``) or the
        agent ``named`` (a username)."""
        if queue is not None and named is not None:
            raise DeskError("请只选择一个咨询对象：队列或坐席，不能同时指定", 422)
        target = queue or DEFAULT_QUEUE
        async with self.lock:
            if (agent.state is not AgentState.ON_CALL or not agent.agent_channel
                    or not agent.linkedid):
                raise DeskError("当前没有通话，不能咨询转接", 409)
            if agent.username in self.active:
                raise DeskError("已在咨询转接中，请先完成、三方通话或取消", 409)
            if any(agent.username in (c.expert, c.named) for c in self.active.values()):
                raise DeskError("您正作为专家接听咨询，不能再发起咨询转接", 409)
            expert: Agent | None = None
            if named is not None:
                expert = self._named_agent(agent, named)
                target = agent.queue or DEFAULT_QUEUE  # the call's own queue (docs/console.md)
            else:
                config = await asyncio.to_thread(self.queues.queue, target)
                if config is None or not config.active:
                    raise DeskError(f"队列 {target} 不存在或未启用", 422)
            if notes:  # what the agent wrote so far: the expert's card shows it
                await asyncio.to_thread(self.store.save_note, agent.linkedid, agent.username,
                                        notes, None)
            if expert is not None:
                await self._reserve(expert, agent, target)
            await self.hold.release(agent)  # Asterisk's transfer plays the music itself
            channel = agent.agent_channel
            try:
                for name, value in (
                        ("__HOTLINE_CONSULT_QUEUE", target),
                        ("__HOTLINE_CONSULT_AGENT", (expert.interface or "") if expert else ""),
                        ("__HOTLINE_CONSULT_RING_S", str(int(self.ring_s) + 5))):
                    await self.members.setvar(channel, name, value)
                await self.members.atxfer(channel, CONSULT_EXTEN, CONSULT_CONTEXT)
            except BaseException:
                if expert is not None:
                    await self._release(expert, agent.linkedid)
                raise
            consult = Consultation(agent.username, agent.linkedid, target, channel,
                                   self.clock(), caller_channel=agent.caller_channel,
                                   named=named)
            self.active[agent.username] = consult
            consult.timer = asyncio.get_running_loop().create_task(
                self._ring_out(consult), name=f"consult {agent.username}")
            self._step(consult, "calling", "started")
            await self._audit(agent.username, "call.consult", consult)
            return self._json(consult)

    async def complete(self, agent: Agent) -> dict[str, Json]:
        """The caller goes on with the expert; the agent's leg ends (wrap-up follows)."""
        return await self._decide(agent, "completed")

    async def conference(self, agent: Agent) -> dict[str, Json]:
        """Caller, agent and expert in one call; any of them may leave."""
        return await self._decide(agent, "conference")

    async def cancel(self, agent: Agent) -> dict[str, Json]:
        """The expert's leg ends (ringing or answered); the agent is back with the caller."""
        return await self._decide(agent, "cancelled")

    async def _decide(self, agent: Agent, step: str) -> dict[str, Json]:
        async with self.lock:
            consult = self.active.get(agent.username)
            if consult is None:
                raise DeskError("当前没有进行中的咨询转接", 409)
            channel = consult.agent_channel
            if step != "cancelled" and consult.step != "talking":
                what = "完成转接" if step == "completed" else "三方通话"
                raise DeskError(f"专家尚未接听，不能{what}；可继续等待或取消", 409)
            consult.deciding = step
            try:
                if step == "cancelled":
                    await self.members.cancel_atxfer(channel)
                elif step == "completed":
                    await self.members.hangup(channel)
                else:
                    for digit in THREE_WAY_CODE:
                        await self.members.receive_dtmf(channel, digit)
            except BaseException:
                consult.deciding = None
                if agent.linkedid != consult.linkedid or agent.state is not AgentState.ON_CALL:
                    # the call ended while the action failed: its end was held back for it
                    self._finish(consult, "ended")
                    self._release_later(consult)
                    self._notify(consult, "ended")
                raise
            self._finish(consult, step)
            if step == "completed":
                self._expert_has_the_caller(consult)
            if step == "cancelled" and consult.named and consult.expert is None:
                await self._release(self.store.agents[consult.named], consult.linkedid)
            self._step(consult, step, step)
            action = {"completed": "complete", "conference": "conference",
                      "cancelled": "cancel"}[step]
            await self._audit(agent.username, f"call.consult.{action}", consult)
            return self._json(consult, step)

    # -- what Asterisk tells (DeskEvents) -------------------------------------------------

    def expert_connected(self, expert: Agent, linkedid: str, queue: str) -> None:
        """An agent answered a queue call: the expert of a consultation when it is one's."""
        for consult in self.active.values():
            if (consult.linkedid == linkedid and consult.queue == queue
                    and consult.named is None
                    and consult.step == "calling" and consult.agent != expert.username):
                consult.step, consult.expert = "talking", expert.username
                if consult.timer is not None:
                    consult.timer.cancel()
                self._step(consult, "talking", "answered")
                return

    def expert_left(self, expert: Agent, linkedid: str) -> None:
        """A queue expert's call ended: while the two agents still talked (nothing decided)
        the expert hung up, and Asterisk gives the caller back to the first agent. The
        consultation ends as cancelled and both are told."""
        for consult in list(self.active.values()):
            if (consult.linkedid == linkedid and consult.expert == expert.username
                    and consult.named is None and consult.step == "talking"
                    and consult.deciding is None):
                self._finish(consult, "cancelled")
                self._step(consult, "cancelled", "cancelled", text="left")
                return

    def call_ended(self, agent: Agent, linkedid: str) -> None:
        """The first agent's queue call ended (hung up, or completed by Asterisk)."""
        consult = self.active.get(agent.username)
        if consult is not None and consult.linkedid == linkedid and consult.deciding is None:
            self._finish(consult, "ended")
            self._release_later(consult)
            self._notify(consult, "ended")

    async def on_event(self, event: AmiEvent) -> None:
        """``DialBegin`` / ``DialEnd`` of the consultation's Local leg dialling a named agent,
        and the ``Hangup`` of that agent's channel (DeskEvents passes every event on)."""
        name = event.name.lower()
        local = event.header("Channel").startswith(f"Local/{CONSULT_EXTEN}@{CONSULT_CONTEXT}")
        if name == "hangup":
            leg = self.legs.pop(event.header("Uniqueid"), None)
            if leg is not None:
                await self._named_leg_ended(leg)
            elif local and event.header("Channel").endswith(";2"):
                await self._dial_gone(event.header("Linkedid"))
            return
        if name not in ("dialbegin", "dialend") or not local:
            return
        dest = event.header("DestChannel")
        async with self.lock:
            consult = next((c for c in self.active.values()
                            if c.named is not None and c.step == "calling"
                            and c.linkedid == event.header("Linkedid")
                            and self._named_interface(c) == dest.rsplit("-", 1)[0]), None)
            if consult is None or consult.named is None:
                return
            uniqueid = event.header("DestUniqueid")
            if name == "dialbegin":
                self.legs[uniqueid] = NamedLeg(consult, dest, uniqueid, self.clock())
                self._record(consult.linkedid, AgentRinging(queue=consult.queue,
                                                            agent=consult.named))
            elif event.header("DialStatus").upper() == "ANSWER":
                leg = self.legs.get(uniqueid) or self.legs.setdefault(
                    uniqueid, NamedLeg(consult, dest, uniqueid, self.clock()))
                await self._named_answered(consult, leg, event.header("Channel"))
            else:  # busy, refused, unreachable: no answer now
                self.legs.pop(uniqueid, None)
                await self._no_answer(consult)

    async def _dial_gone(self, linkedid: str) -> None:
        """The consultation's Local leg hung up while a named agent's phone had not answered
        (not registered, no such phone: Dial gave up without ringing it): no answer now."""
        async with self.lock:
            consult = next((c for c in self.active.values()
                            if c.named is not None and c.step == "calling"
                            and c.linkedid == linkedid), None)
            if consult is not None:
                await self._no_answer(consult)

    def _named_interface(self, consult: Consultation) -> str | None:
        named = self.store.agents.get(consult.named or "")
        return named.interface if named is not None else None

    def _named_agent(self, agent: Agent, username: str) -> Agent:
        """The agent to consult by name, checked (422 unknown or without a phone, 409
        oneself or not ready)."""
        named = self.store.agents.get(username)
        if named is None:
            raise DeskError(f"坐席 {username} 不存在（或不在本交换机节点）", 422)
        if named.interface is None:
            raise DeskError(f"坐席 {username} 未配置话机（interface），不能咨询", 422)
        if named.username == agent.username:
            raise DeskError("不能咨询自己，请选择其他坐席", 409)
        if named.state is not AgentState.READY:
            raise DeskError(f"坐席 {username} 当前状态「{STATE_TITLES[named.state]}」，"
                            f"只能咨询就绪的坐席", 409)
        return named

    def _need_desk(self) -> tuple[AgentTransitions, DeskNotifier]:
        if self.transitions is None or self.notify is None:
            raise DeskError("本服务不支持咨询指定坐席", 503)
        return self.transitions, self.notify

    async def _reserve(self, named: Agent, agent: Agent, queue: str) -> None:
        """The named agent out of the queues meanwhile (paused with reason 咨询来电); their
        call card shows the notes."""
        transitions, notify = self._need_desk()
        if not await transitions.reserve(named, CONSULT_REASON, linkedid=agent.linkedid,
                                         queue=queue, caller=agent.caller):
            raise DeskError(f"坐席 {named.username} 当前状态「"
                            f"{STATE_TITLES[named.state]}」，只能咨询就绪的坐席", 409)
        if self.cards is not None and agent.linkedid:
            card = await self.cards.build(agent.linkedid, agent.caller or "", queue, None)
            notify.call_ringing(named.username, card)

    async def _release(self, named: Agent, linkedid: str | None) -> None:
        """The named agent back to 就绪, unpaused (not answered, cancelled)."""
        transitions, _notify = self._need_desk()
        await transitions.release(named, CONSULT_REASON, linkedid)

    def _release_later(self, consult: Consultation) -> None:
        """The call ended while the named agent still rang: stop the ringing, release them."""
        if consult.named is None or consult.expert is not None:
            return
        named = self.store.agents.get(consult.named)

        async def release() -> None:
            with contextlib.suppress(DeskError):
                await self.members.cancel_atxfer(consult.agent_channel)
            if named is not None:
                await self._release(named, consult.linkedid)

        asyncio.get_running_loop().create_task(release(), name=f"release {consult.named}")

    async def _named_answered(self, consult: Consultation, leg: NamedLeg, local: str) -> None:
        """The named agent answered: 通话中 on the call; the consultation talks."""
        transitions, notify = self._need_desk()
        named = self.store.agents[consult.named or ""]
        leg.answered_at = self.clock()
        async with transitions.lock:
            named.linkedid, named.queue = consult.linkedid, consult.queue
            named.agent_channel, named.caller_channel = leg.channel, local
            await transitions.set(named, AgentState.ON_CALL, CONSULT_REASON, by=None,
                                  linkedid=consult.linkedid)
        notify.call_connected(named.username, consult.linkedid, consult.queue, 0)
        ring = round((leg.answered_at - leg.dialled_at).total_seconds(), 3)
        self._record(consult.linkedid, AgentConnected(queue=consult.queue, agent=named.username,
                                                      hold_time=0, ring_time=ring))
        consult.step, consult.expert = "talking", named.username
        if consult.timer is not None:
            consult.timer.cancel()
            consult.timer = None
        self._step(consult, "talking", "answered")

    async def _named_leg_ended(self, leg: NamedLeg) -> None:
        """The named agent's phone hung up: their call ends (agent_completed with their talk
        time); wrap-up after a talk, 就绪 at once after a cancelled consultation."""
        transitions, notify = self._need_desk()
        consult = leg.consult
        named = self.store.agents.get(consult.named or "")
        if leg.answered_at is None:
            if named is not None and self.active.get(consult.agent) is not consult:
                await self._release(named, consult.linkedid)
            return
        talk = round(max(0.0, (self.clock() - leg.answered_at).total_seconds()), 3)
        self._record(consult.linkedid, AgentCompleted(
            queue=consult.queue, agent=consult.named or "", talk_time=talk, hold_time=0,
            reason="hangup"))
        async with self.lock:
            if self.active.get(consult.agent) is consult:  # cancelled by their hang-up
                self._finish(consult, "cancelled")
                # (the transfer's target gone, Asterisk gives the caller back to the agent)
                self._step(consult, "cancelled", "cancelled", text="left")
        if named is None or named.linkedid != consult.linkedid:
            return
        await self.hold.release(named)  # the call ended on hold: the music stops
        if consult.outcome == "cancelled":
            await self._release(named, consult.linkedid)
        else:
            await transitions.enter_wrapup(named, consult.linkedid)
        notify.call_completed(named.username, consult.linkedid, int(talk), "hangup")

    def _record(self, linkedid: str, record: AgentRinging | AgentConnected | AgentCompleted
                ) -> None:
        if self.recorder is not None:
            self.recorder.record(ContactEvent(linkedid, record, at=self.clock()))

    # -- parts ----------------------------------------------------------------------------

    def _expert_has_the_caller(self, consult: Consultation) -> None:
        """After 完成转接 Asterisk joins the caller to the expert and the consultation's Local
        leg, the expert's peer until then, is gone: the expert's hold (保持) must play the music
        to, and mute, the caller's own channel."""
        expert = self.store.agents.get(consult.expert or "")
        if (expert is not None and expert.linkedid == consult.linkedid
                and consult.caller_channel):
            expert.caller_channel = consult.caller_channel

    async def _ring_out(self, consult: Consultation) -> None:
        await asyncio.sleep(self.ring_s)
        async with self.lock:
            if self.active.get(consult.agent) is not consult or consult.step != "calling":
                return
            consult.timer = None
            await self._no_answer(consult)

    async def _no_answer(self, consult: Consultation) -> None:
        """Nobody answered (the ring time ran out, or the named agent's phone refused): the
        transfer cancelled, the named agent ready again; the lock is held."""
        try:
            await self.members.cancel_atxfer(consult.agent_channel)
        except DeskError as exc:
            log.warning("consultation of %s not cancelled: %s", consult.agent, exc)
        self._finish(consult, "no_answer")
        self._step(consult, "no_answer", "no_answer")
        if consult.named is not None:
            await self._release(self.store.agents[consult.named], consult.linkedid)

    def _finish(self, consult: Consultation, outcome: str) -> None:
        consult.outcome = outcome
        self.active.pop(consult.agent, None)
        timer, consult.timer = consult.timer, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    def _step(self, consult: Consultation, notice: str, step: str, *,
              text: str | None = None) -> None:
        if self.recorder is not None:
            self.recorder.record(ContactEvent(consult.linkedid, Consulted(
                agent=consult.agent, queue=consult.queue, step=step, expert=consult.expert,
                named=consult.named), at=self.clock()))
        self._notify(consult, notice, text)

    def _notify(self, consult: Consultation, step: str, text: str | None = None) -> None:
        texts = MESSAGES if consult.named is None else NAMED_MESSAGES
        note = ConsultChanged(
            linkedid=consult.linkedid, agent=consult.agent, queue=consult.queue, step=step,
            expert=consult.expert, named=consult.named, message=texts[text or step].format(
                queue=consult.queue, expert=consult.expert or "", ring_s=f"{self.ring_s:g}",
                agent=consult.agent, named=consult.named or ""))
        # the agent first, then the expert (the named agent from the start)
        for username in (consult.agent, consult.expert or consult.named):
            if username is not None:
                self.notifier.consult_changed(username, note)

    async def _audit(self, by: str, action: str, consult: Consultation) -> None:
        named = {"named": consult.named} if consult.named is not None else {}
        await asyncio.to_thread(self.store.audit, by, action, consult.agent,
                                linkedid=consult.linkedid, queue=consult.queue,
                                expert=consult.expert, **named)

    def _json(self, consult: Consultation, step: str | None = None) -> dict[str, Json]:
        return {"agent": consult.agent, "linkedid": consult.linkedid, "queue": consult.queue,
                "step": step or consult.step, "expert": consult.expert, "named": consult.named}

    async def close(self) -> None:
        for consult in list(self.active.values()):
            if consult.timer is not None:
                consult.timer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await consult.timer
