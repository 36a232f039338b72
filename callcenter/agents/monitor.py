"""A supervisor's phone joins an agent's live call: listen, whisper (coach: heard by the agent
only) or barge (heard by both). docs/console.md "Listen, whisper, barge".

The desk originates the supervisor's own phone (their user record's ``interface``, e.g.
``PJSIP/supervisor1``) into the dialplan's ``hotline-spy`` context, whose extension runs
``ChanSpy`` on the agent's channel with option ``q`` (no beep, no name: the agent is not told)
and ``w`` (whisper) or ``B`` (barge). Every use is written to the audit log (``call.monitor``:
who, which agent and call, which mode, when); refusals are 4xx with the reason in Chinese.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from callcenter.agents.members import QueueMembers
from callcenter.agents.models import AgentState
from callcenter.agents.state import Agent, AgentStore, DeskError
from ivr.events import Json

Mode = Literal["listen", "whisper", "barge"]
MODES: dict[str, str] = {"listen": "监听", "whisper": "耳语", "barge": "强插"}
SPY_CONTEXT = "hotline-spy"  # ivr/pbx/asterisk/extensions.conf
RING_TIMEOUT_MS = 30_000


class CallMonitor:
    def __init__(self, store: AgentStore, members: QueueMembers) -> None:
        self.store = store
        self.members = members

    async def join(self, agent: Agent, mode: str, *, supervisor: str,
                   interface: str | None) -> dict[str, Json]:
        """Dial ``supervisor``'s phone into the agent's call in ``mode``; what was done."""
        if mode not in MODES:
            raise DeskError(f"未知的监听方式：{mode}（可选 listen、whisper、barge）", 422)
        if not interface:
            raise DeskError("您的账号未配置话机（interface），无法监听；请管理员在用户设置中配置",
                            409)
        if agent.state is not AgentState.ON_CALL or not agent.agent_channel or not agent.linkedid:
            raise DeskError(f"坐席 {agent.username} 当前没有进行中的通话", 409)
        if agent.interface == interface:
            raise DeskError("不能用坐席本人的话机监听其通话", 422)
        title = MODES[mode]
        await self.members.originate(
            interface, SPY_CONTEXT, mode, {"HOTLINE_SPY_CHANNEL": agent.agent_channel},
            CallerID=f'"{title} {agent.username}" <12366>', Timeout=str(RING_TIMEOUT_MS))
        await asyncio.to_thread(self.store.audit, supervisor, "call.monitor", agent.username,
                                linkedid=agent.linkedid, mode=mode, interface=interface)
        return {"agent": agent.username, "linkedid": agent.linkedid, "mode": mode,
                "mode_title": title, "interface": interface}
