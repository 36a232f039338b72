"""Commands from the API workers to the bridge of an Asterisk node, over Redis (process roles,
docs/deployment.md).

The bridge of node ``N`` (``hotline bridge --node N``) runs :class:`DeskCommands`: it claims the
node (``<prefix>:bridge:N:owner``, so that a second bridge for the same node refuses to start),
keeps its status fresh (``<prefix>:bridge:N:status``, both expire 15 s after the bridge stops
refreshing them) and answers requests published on ``<prefix>:bridge:N:commands`` by running
them on its agent desk. An API worker's :class:`CommandClient` publishes a request
``{"id", "op", "args", "reply_to"}`` and waits for ``{"id", "ok", "result"}`` or
``{"id", "ok": false, "status", "detail"}`` on its own reply channel.

When nobody receives the request (no bridge for the node) the API answers 503 at once; when the
bridge does not answer within ``HOTLINE_BRIDGE_COMMAND_TIMEOUT_S``, 504; both with a Chinese
detail naming the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from typing import Any

from redis.exceptions import RedisError

from callcenter.agents.services import AgentDesk
from callcenter.agents.state import DeskError
from callcenter.bus import RedisBus

log = logging.getLogger(__name__)

CLAIM_TTL_S = 15
REFRESH_S = 5.0


def owner_key(bus: RedisBus, node: str) -> str:
    return bus.name("bridge", node, "owner")


def status_key(bus: RedisBus, node: str) -> str:
    return bus.name("bridge", node, "status")


def command_channel(bus: RedisBus, node: str) -> str:
    return bus.name("bridge", node, "commands")


async def live_nodes(bus: RedisBus) -> dict[str, dict[str, Any]]:
    """The nodes whose bridge runs now, with the status each last reported."""
    found: dict[str, dict[str, Any]] = {}
    pattern = bus.name("bridge", "*", "status")
    async for key in bus.redis.scan_iter(match=pattern, count=200):
        name = key.decode() if isinstance(key, bytes) else str(key)
        node = name[len(bus.name("bridge", "")):-len(":status")]
        raw = await bus.redis.get(name)
        if raw is not None:
            with contextlib.suppress(ValueError):
                found[node] = json.loads(raw)
    return dict(sorted(found.items()))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class NodeTaken(RuntimeError):
    """Another bridge holds the node."""


class DeskCommands:
    """The bridge's side: runs the API's requests on its desk."""

    def __init__(self, bus: RedisBus, desk: AgentDesk, node: str,
                 status: Any = None) -> None:
        self.bus = bus
        self.desk = desk
        self.node = node
        self.status = status  # a callable returning the JSON status the API's health shows
        self.token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.handled = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._refresh: asyncio.Task[None] | None = None
        bus.on(command_channel(bus, node), self._arrived, durable=False)

    async def claim(self, wait_s: float = CLAIM_TTL_S + 2) -> None:
        """Take the node, waiting up to ``wait_s`` for a claim of a bridge that stopped
        without releasing it (killed) to expire; :class:`NodeTaken` if it is still held."""
        key = owner_key(self.bus, self.node)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while not await self.bus.redis.set(key, self.token, nx=True, ex=CLAIM_TTL_S):
            if loop.time() >= deadline:
                holder = await self.bus.redis.get(key)
                raise NodeTaken(f"node {self.node} is held by another bridge ({holder!r})")
            await asyncio.sleep(1.0)
        await self._publish_status()
        self._refresh = loop.create_task(self._keep(), name=f"bridge {self.node} claim")

    async def _publish_status(self) -> None:
        status = {"node": self.node, "pid": os.getpid(), "commands": self.handled}
        if self.status is not None:
            status.update(self.status())
        await self.bus.redis.set(status_key(self.bus, self.node), json.dumps(status),
                                 ex=CLAIM_TTL_S)

    async def _keep(self) -> None:
        key = owner_key(self.bus, self.node)
        while True:
            await asyncio.sleep(REFRESH_S)
            try:
                holder = await self.bus.redis.get(key)
                if holder is not None and _text(holder) != self.token:
                    log.error("node %s was taken over by another bridge", self.node)
                await self.bus.redis.set(key, self.token, ex=CLAIM_TTL_S)
                await self._publish_status()
            except RedisError as exc:
                log.warning("bridge claim of %s not refreshed: %s", self.node, exc)

    async def release(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(RedisError):
            key = owner_key(self.bus, self.node)
            holder = await self.bus.redis.get(key)
            if holder is not None and _text(holder) == self.token:
                await self.bus.redis.delete(key, status_key(self.bus, self.node))

    def _arrived(self, request: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._answer(request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, request: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"id": request.get("id")}
        try:
            reply["result"] = await self.run(str(request.get("op")), request.get("args") or {})
            reply["ok"] = True
        except DeskError as exc:
            reply.update(ok=False, status=exc.status, detail=exc.detail)
        except Exception as exc:
            log.exception("command %s on node %s failed", request.get("op"), self.node)
            reply.update(ok=False, status=502, detail=f"节点 {self.node} 的桥接服务执行失败：{exc}")
        self.handled += 1
        reply_to = request.get("reply_to")
        if isinstance(reply_to, str) and reply_to.startswith(self.bus.name("reply", "")):
            self.bus.send(reply_to, reply, durable=False)

    async def run(self, op: str, args: dict[str, Any]) -> Any:
        desk = self.desk
        if op == "state":
            return desk.agent(str(args["username"])).as_json()
        if op == "change":
            reason = args.get("reason")
            return await desk.change(str(args["username"]), str(args["state"]),
                                     None if reason is None else str(reason), by=str(args["by"]))
        if op == "transfer":
            agent = await desk.transfer(str(args["username"]), str(args["queue"]),
                                        by=str(args["by"]))
            return agent.linkedid
        if op == "hold":
            return (await desk.hold_call(str(args["username"]))).as_json()
        if op == "resume":
            agent, seconds = await desk.resume_call(str(args["username"]))
            return {**agent.as_json(), "held_seconds": seconds}
        if op == "monitor":
            interface = args.get("interface")
            return await desk.monitor_call(
                str(args["username"]), str(args["mode"]), supervisor=str(args["supervisor"]),
                interface=None if interface is None else str(interface))
        if op == "consult":
            queue, notes, named = args.get("queue"), args.get("notes"), args.get("named")
            return await desk.consult_call(
                str(args["username"]), str(args["action"]),
                None if queue is None else str(queue), None if notes is None else str(notes),
                None if named is None else str(named))
        if op == "board":
            return desk.board().to_dict()
        if op == "on_call":  # whether the agent is on (or ringing for) the call now
            return desk.store.on_call(str(args["username"]), str(args["linkedid"]))
        if op == "push_queues":
            return await desk.push_queues()
        raise DeskError(f"桥接服务不认识的命令：{op}", 400)


class CommandClient:
    """The API worker's side: one reply channel per process, one future per request."""

    def __init__(self, bus: RedisBus, timeout_s: float) -> None:
        self.bus = bus
        self.timeout_s = timeout_s
        self.reply_channel = bus.name("reply", uuid.uuid4().hex)
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        bus.on(self.reply_channel, self._arrived, durable=False)

    def _arrived(self, reply: dict[str, Any]) -> None:
        future = self._waiting.pop(str(reply.get("id")), None)
        if future is not None and not future.done():
            future.set_result(reply)

    async def call(self, node: str, op: str, **args: Any) -> Any:
        """Run ``op`` on the bridge of ``node``; its result, or its refusal as a DeskError."""
        request_id = uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            try:
                receivers = await self.bus.publish(command_channel(self.bus, node), {
                    "id": request_id, "op": op, "args": args, "reply_to": self.reply_channel})
            except RedisError as exc:
                raise DeskError("共享缓存（Redis）暂不可用，无法联系交换机节点，请稍后再试",
                                503) from exc
            if receivers == 0:
                raise DeskError(f"交换机节点 {node} 的桥接服务未运行，暂时无法操作，请稍后再试"
                                f"或联系管理员", 503)
            try:
                reply = await asyncio.wait_for(future, self.timeout_s)
            except TimeoutError as exc:
                raise DeskError(f"交换机节点 {node} 的桥接服务在 {self.timeout_s:g} 秒内"
                                f"未应答，请稍后再试", 504) from exc
        finally:
            self._waiting.pop(request_id, None)
        if not reply.get("ok"):
            raise DeskError(str(reply.get("detail") or "操作失败"), int(reply.get("status", 502)))
        return reply.get("result")
