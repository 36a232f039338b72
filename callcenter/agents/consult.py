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

from callcenter.agents.hold import CallHold
from callcenter.agents.members import QueueMembers
from callcenter.agents.models import AgentState
from callcenter.agents.state import Agent, AgentStore, DeskError
from callcenter.notify.messages import ConsultChanged
from callcenter.notify.services import Notifier
from callcenter.queues.services import QueueService
from ivr.clock import Clock
from ivr.events import Consulted, Json
from ivr.ports import ContactEvent, ContactRecorder

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


class ConsultTransfer:
    def __init__(self, store: AgentStore, members: QueueMembers, queues: QueueService,
                 notifier: Notifier, hold: CallHold, *, clock: Clock,
                 recorder: ContactRecorder | None = None, ring_s: float = 30.0) -> None:
        self.store = store
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

    async def start(self, agent: Agent, queue: str | None, *, notes: str | None = None
                    ) -> dict[str, Json]:
        """Hold the caller and ring the expert seat (``queue``, default ``experts``)."""
        target = queue or DEFAULT_QUEUE
        async with self.lock:
            if (agent.state is not AgentState.ON_CALL or not agent.agent_channel
                    or not agent.linkedid):
                raise DeskError("当前没有通话，不能咨询转接", 409)
            if agent.username in self.active:
                raise DeskError("已在咨询转接中，请先完成、三方通话或取消", 409)
            if any(c.expert == agent.username for c in self.active.values()):
                raise DeskError("您正作为专家接听咨询，不能再发起咨询转接", 409)
            config = await asyncio.to_thread(self.queues.queue, target)
            if config is None or not config.active:
                raise DeskError(f"队列 {target} 不存在或未启用", 422)
            if notes:  # what the agent wrote so far: the expert's card shows it
                await asyncio.to_thread(self.store.save_note, agent.linkedid, agent.username,
                                        notes, None)
            await self.hold.release(agent)  # Asterisk's transfer plays the music itself
            channel = agent.agent_channel
            for name, value in (("__HOTLINE_CONSULT_QUEUE", target),
                                ("__HOTLINE_CONSULT_RING_S", str(int(self.ring_s) + 5))):
                await self.members.setvar(channel, name, value)
            await self.members.atxfer(channel, CONSULT_EXTEN, CONSULT_CONTEXT)
            consult = Consultation(agent.username, agent.linkedid, target, channel,
                                   self.clock(), caller_channel=agent.caller_channel)
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
                    self._finish(consult)
                    self._notify(consult, "ended")
                raise
            self._finish(consult)
            if step == "completed":
                self._expert_has_the_caller(consult)
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
                    and consult.step == "calling" and consult.agent != expert.username):
                consult.step, consult.expert = "talking", expert.username
                if consult.timer is not None:
                    consult.timer.cancel()
                self._step(consult, "talking", "answered")
                return

    def call_ended(self, agent: Agent, linkedid: str) -> None:
        """The first agent's queue call ended (hung up, or completed by Asterisk)."""
        consult = self.active.get(agent.username)
        if consult is not None and consult.linkedid == linkedid and consult.deciding is None:
            self._finish(consult)
            self._notify(consult, "ended")

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
            try:
                await self.members.cancel_atxfer(consult.agent_channel)
            except DeskError as exc:
                log.warning("consultation of %s not cancelled: %s", consult.agent, exc)
            self._finish(consult)
            self._step(consult, "no_answer", "no_answer")

    def _finish(self, consult: Consultation) -> None:
        self.active.pop(consult.agent, None)
        timer, consult.timer = consult.timer, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    def _step(self, consult: Consultation, notice: str, step: str) -> None:
        if self.recorder is not None:
            self.recorder.record(ContactEvent(consult.linkedid, Consulted(
                agent=consult.agent, queue=consult.queue, step=step, expert=consult.expert),
                at=self.clock()))
        self._notify(consult, notice)

    def _notify(self, consult: Consultation, step: str) -> None:
        note = ConsultChanged(
            linkedid=consult.linkedid, agent=consult.agent, queue=consult.queue, step=step,
            expert=consult.expert, message=MESSAGES[step].format(
                queue=consult.queue, expert=consult.expert or "", ring_s=f"{self.ring_s:g}"))
        for username in (consult.agent, consult.expert):  # the agent first, then the expert
            if username is not None:
                self.notifier.consult_changed(username, note)

    async def _audit(self, by: str, action: str, consult: Consultation) -> None:
        await asyncio.to_thread(self.store.audit, by, action, consult.agent,
                                linkedid=consult.linkedid, queue=consult.queue,
                                expert=consult.expert)

    def _json(self, consult: Consultation, step: str | None = None) -> dict[str, Json]:
        return {"agent": consult.agent, "linkedid": consult.linkedid, "queue": consult.queue,
                "step": step or consult.step, "expert": consult.expert}

    async def close(self) -> None:
        for consult in list(self.active.values()):
            if consult.timer is not None:
                consult.timer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await consult.timer
