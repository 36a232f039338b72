"""What the agents' routes ask of the desk, wherever it runs.

* :class:`LocalFront`: one process (``hotline serve`` without Redis): the desk in this process.
* :class:`RemoteFront`: an API worker among several: each agent's desk lives in the bridge of
  the Asterisk node the agent's phone is registered to (``users.node``, default
  ``HOTLINE_NODE``), reached by :class:`callcenter.agents.commands.CommandClient`; the board
  merges every running node's. Notes read and write the database here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import select

from callcenter.agents.commands import CommandClient, live_nodes
from callcenter.agents.models import CallNote
from callcenter.agents.services import AgentDesk
from callcenter.agents.state import DeskError
from callcenter.auth.models import User
from callcenter.notify.redisbus import merge_boards


class DeskFront(Protocol):
    async def state(self, username: str) -> dict[str, Any]: ...

    async def change(self, username: str, state: str, reason: str | None, *,
                     by: str) -> dict[str, Any]: ...

    async def transfer(self, username: str, queue: str, *, by: str) -> str | None: ...

    async def board(self) -> dict[str, Any]: ...

    async def hold(self, username: str) -> dict[str, Any]:
        """Put the agent's caller on hold; the agent afterwards."""
        ...

    async def resume(self, username: str) -> dict[str, Any]:
        """Take the held caller back; the agent afterwards, with ``held_seconds``."""
        ...

    async def monitor(self, username: str, mode: str, *, supervisor: str,
                      interface: str | None) -> dict[str, Any]:
        """Dial the supervisor's phone into the agent's live call (audited)."""
        ...

    async def consult(self, username: str, action: str, queue: str | None = None,
                      notes: str | None = None, named: str | None = None) -> dict[str, Any]:
        """A step of the agent's consultative transfer (start, towards a queue or the agent
        ``named``; complete, conference, cancel); the consultation afterwards."""
        ...

    async def handled(self, linkedid: str, username: str) -> bool: ...

    def save_note(self, linkedid: str, username: str, notes: str,
                  disposition: str | None) -> CallNote: ...

    def notes(self, linkedid: str) -> Sequence[CallNote]: ...

    async def push_queues(self) -> bool:
        """Push the queue configuration to every Asterisk; False when none is connected."""
        ...


class _NotesHere:
    """Notes are rows in the database every process reaches: both fronts read and write
    them through this process's desk."""

    def __init__(self, desk: AgentDesk) -> None:
        self.desk = desk

    def save_note(self, linkedid: str, username: str, notes: str,
                  disposition: str | None) -> CallNote:
        return self.desk.save_note(linkedid, username, notes, disposition)

    def notes(self, linkedid: str) -> Sequence[CallNote]:
        return self.desk.notes(linkedid)


class LocalFront(_NotesHere):
    async def state(self, username: str) -> dict[str, Any]:
        return self.desk.agent(username).as_json()

    async def change(self, username: str, state: str, reason: str | None, *,
                     by: str) -> dict[str, Any]:
        return await self.desk.change(username, state, reason, by=by)

    async def transfer(self, username: str, queue: str, *, by: str) -> str | None:
        return (await self.desk.transfer(username, queue, by=by)).linkedid

    async def board(self) -> dict[str, Any]:
        return self.desk.board().to_dict()

    async def hold(self, username: str) -> dict[str, Any]:
        return (await self.desk.hold_call(username)).as_json()

    async def resume(self, username: str) -> dict[str, Any]:
        agent, seconds = await self.desk.resume_call(username)
        return {**agent.as_json(), "held_seconds": seconds}

    async def monitor(self, username: str, mode: str, *, supervisor: str,
                      interface: str | None) -> dict[str, Any]:
        return await self.desk.monitor_call(username, mode, supervisor=supervisor,
                                            interface=interface)

    async def consult(self, username: str, action: str, queue: str | None = None,
                      notes: str | None = None, named: str | None = None) -> dict[str, Any]:
        return await self.desk.consult_call(username, action, queue, notes, named)

    async def handled(self, linkedid: str, username: str) -> bool:
        return await asyncio.to_thread(self.desk.handled, linkedid, username)

    async def push_queues(self) -> bool:
        return await self.desk.push_queues()


class RemoteFront(_NotesHere):
    def __init__(self, desk: AgentDesk, commands: CommandClient, default_node: str) -> None:
        super().__init__(desk)  # this process's desk without AMI: notes, contacts, users
        self.commands = commands
        self.default_node = default_node

    def node_of(self, username: str) -> str:
        with self.desk.db.session() as session:
            user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise DeskError(f"坐席 {username} 不存在或不是坐席/专家账号", 404)
        return user.node or self.default_node

    async def _call(self, username: str, op: str, **args: Any) -> Any:
        node = await asyncio.to_thread(self.node_of, username)
        return await self.commands.call(node, op, username=username, **args)

    async def state(self, username: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(username, "state")
        return result

    async def change(self, username: str, state: str, reason: str | None, *,
                     by: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(username, "change", state=state,
                                                  reason=reason, by=by)
        return result

    async def transfer(self, username: str, queue: str, *, by: str) -> str | None:
        linkedid = await self._call(username, "transfer", queue=queue, by=by)
        return None if linkedid is None else str(linkedid)

    async def hold(self, username: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(username, "hold")
        return result

    async def resume(self, username: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(username, "resume")
        return result

    async def monitor(self, username: str, mode: str, *, supervisor: str,
                      interface: str | None) -> dict[str, Any]:
        """On the agent's node: the supervisor's phone must be reachable from there."""
        result: dict[str, Any] = await self._call(username, "monitor", mode=mode,
                                                  supervisor=supervisor, interface=interface)
        return result

    async def consult(self, username: str, action: str, queue: str | None = None,
                      notes: str | None = None, named: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(username, "consult", action=action,
                                                  queue=queue, notes=notes, named=named)
        return result

    async def board(self) -> dict[str, Any]:
        """Every running node's board, merged (agents by name, waiting callers by wait)."""
        nodes = await live_nodes(self.commands.bus)
        if not nodes:
            raise DeskError("没有正在运行的交换机节点桥接服务，暂时无法显示坐席看板", 503)
        boards = await asyncio.gather(*(self.commands.call(node, "board") for node in nodes))
        return merge_boards(list(boards))

    async def handled(self, linkedid: str, username: str) -> bool:
        if await asyncio.to_thread(self.desk.handled, linkedid, username):
            return True
        try:
            return bool(await self._call(username, "on_call", linkedid=linkedid))
        except DeskError:
            return False

    async def push_queues(self) -> bool:
        nodes = await live_nodes(self.commands.bus)
        pushed = await asyncio.gather(*(self.commands.call(node, "push_queues")
                                        for node in nodes))
        return bool(pushed) and all(pushed)

