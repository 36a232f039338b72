"""The process roles on the Redis bus (``HOTLINE_REDIS_URL``; docs/deployment.md).

* :class:`ApiRole`: what an API worker (``hotline serve [--workers N]`` with Redis) holds
  besides the app: the bus, the notifier that delivers every process's notifications to this
  worker's WebSockets, the shared login limit and session endings, and the command client that
  reaches the bridges. No AMI connection: the API is stateless and any number of workers run.
* :func:`run_bridge`: ``hotline bridge --node NAME``, one per Asterisk node: that node's AMI
  connection, IVR sessions, contact log, and the agent desk of the agents registered to it,
  answering the API's commands (callcenter/agents/commands.py).

Without Redis, ``hotline serve`` is both in one process (callcenter/app.py, callcenter/runtime.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from typing import Any

from callcenter.agents.commands import CommandClient, DeskCommands, live_nodes
from callcenter.auth.live import SharedLiveSessions
from callcenter.auth.shared import RedisLoginRateLimiter
from callcenter.bus import RedisBus
from callcenter.notify.redisbus import RedisNotifier
from callcenter.settings import Settings
from ivr.clock import Clock

log = logging.getLogger(__name__)


@dataclass
class ApiRole:
    bus: RedisBus
    notifier: RedisNotifier
    live_sessions: SharedLiveSessions
    limiter: RedisLoginRateLimiter
    commands: CommandClient

    @classmethod
    def build(cls, settings: Settings, clock: Clock) -> ApiRole:
        assert settings.redis_url is not None
        bus = RedisBus(settings.redis_url, settings.redis_prefix)
        return cls(bus=bus, notifier=RedisNotifier(clock, bus),
                   live_sessions=SharedLiveSessions(bus),
                   limiter=RedisLoginRateLimiter(
                       settings.redis_url, settings.redis_prefix, settings.login_max_failures,
                       settings.login_window_s, settings.login_address_max_failures),
                   commands=CommandClient(bus, settings.bridge_command_timeout_s))

    async def start(self) -> None:
        await self.bus.start()

    async def stop(self) -> None:
        await self.bus.close()
        self.limiter.close()

    async def health(self) -> dict[str, Any]:
        """The bus and the bridges that run now (``checks.bridges`` of /api/v1/health)."""
        try:
            nodes = await live_nodes(self.bus)
        except Exception as exc:
            return {"ok": False, "error": str(exc)[:300], **self.bus.health()}
        return {"ok": bool(nodes), "nodes": nodes, **self.bus.health()}


async def run_bridge(settings: Settings, node: str, clock: Clock,
                     stop: asyncio.Event | None = None) -> None:
    """Run the bridge of ``node`` until ``stop`` is set (SIGTERM / SIGINT by default)."""
    from callcenter.contacts.services import ContactService
    from callcenter.db import Database
    from callcenter.runtime import Runtime, load_shared

    # settings.node stays the deployment's default node (agents without users.node)
    settings = settings.model_copy(update={"ami_enabled": True})
    assert settings.redis_url is not None
    db = Database(settings.database_url)
    contacts = ContactService(db)
    shared = await asyncio.to_thread(load_shared, settings, db, clock)
    bus = RedisBus(settings.redis_url, settings.redis_prefix)
    notifier = RedisNotifier(clock, bus, node=node)
    runtime = Runtime.build(settings, contacts, clock, shared, notifier=notifier, node=node)
    assert runtime.desk is not None
    assert runtime.kb_reloads is not None
    runtime.kb_reloads.attach(bus)  # a publication reloads this bridge's knowledge base

    def status() -> dict[str, Any]:
        ami = runtime.ami
        return {"ami_ready": bool(ami is not None and ami.ready),
                "active_calls": len(runtime.bridge.calls) if runtime.bridge else 0,
                "agents": len(runtime.desk.agents) if runtime.desk else 0,
                "spool_depth": runtime.contact_log.health()["depth"]}

    commands = DeskCommands(bus, runtime.desk, node, status=status)
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    claimed = False
    try:
        await bus.start()
        await commands.claim()
        claimed = True
        await runtime.start()
        log.info("bridge of node %s running (AMI %s:%s, %d agents)", node, settings.ami_host,
                 settings.ami_port, len(runtime.desk.agents))
        await stop.wait()
    finally:
        log.info("bridge of node %s stopping", node)
        with contextlib.suppress(Exception):
            await runtime.stop()
        if claimed:
            await commands.release()
        await bus.close()
        db.dispose()
