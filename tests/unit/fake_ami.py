"""A small fake AMI server for unit tests: the wire protocol and the failures we must survive.

It listens on 127.0.0.1 on a free port, greets with the Asterisk banner, and answers:

* ``Login`` with Success and then ``Event: FullyBooted`` (or Error when logins are refused),
  with ``Uptime`` when ``uptime`` is set (seconds since "Asterisk" started);
* an action named in ``lists`` with an event list: Success, those events, then
  ``<Action>Complete`` (e.g. ``CoreShowChannels`` -> ``CoreShowChannelsComplete``);
  ``CoreShowChannels`` lists no channel until a test says otherwise (an idle Asterisk: a
  client that asks, e.g. the desk's resync, waited its whole action timeout for a list that
  never came);
* ``Ping`` with Pong, unless the connection was muted (a half-open connection);
* ``AGI`` with "Added AGI command to queue", then, when ``agi_result`` gives a result line, an
  ``AsyncAGIExec`` event carrying the ``CommandId`` and the URL-encoded result; a key that
  stopped a command that takes keys (``STREAM FILE``, ``WAIT FOR DIGIT``, ``RECORD FILE``)
  is announced first as a ``DTMFEnd`` event, as Asterisk does (``key_events``: "before",
  "after" the result, or "none" for an AMI user without the dtmf class);
* any other action with Success, unless its name is in ``silent_actions`` (never answered).

It records every action, counts logins and connection attempts, can push raw bytes, drop
every connection, or be "down" (accept a connection and close it at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from ivr.ami.client import AmiClient
from tests.support import SUITE_CLOCK

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
EOM = b"\r\n\r\n"

# (channel, command) -> the AGI result line to report, or None to report nothing
AgiResponder = Callable[[str, str], str | None]


def message(*pairs: tuple[str, str]) -> bytes:
    """One AMI message from header pairs (duplicates allowed, order kept)."""
    return "".join(f"{key}: {value}\r\n" for key, value in pairs).encode() + b"\r\n"


def event(name: str, **headers: str) -> bytes:
    return message(("Event", name), *headers.items())


def dtmf(channel: str, digit: str, direction: str = "Received") -> bytes:
    """The DTMFEnd event of a key the channel received (or sent)."""
    return message(("Event", "DTMFEnd"), ("Privilege", "dtmf,all"), ("Channel", channel),
                   ("Uniqueid", "1700000000.1"), ("Linkedid", "1700000000.1"),
                   ("Digit", digit), ("DurationMs", "120"), ("Direction", direction))


KEY_COMMANDS = ("STREAM FILE", "WAIT FOR DIGIT", "RECORD FILE")


def reported_key(command: str, result: str) -> str | None:
    """The key an AGI result reports, for commands that stop on a key."""
    if not command.upper().startswith(KEY_COMMANDS):
        return None
    value = result.split("result=", 1)[-1].split()[0] if "result=" in result else ""
    return chr(int(value)) if value.isdigit() and int(value) > 0 else None


def agi_exec(channel: str, command_id: str, result: str) -> bytes:
    """The AsyncAGIExec event Asterisk sends when an AGI command has run."""
    return message(("Event", "AsyncAGIExec"), ("Privilege", "agi,all"), ("Channel", channel),
                   ("CommandId", command_id), ("Result", quote(result + "\n", safe="")))


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0,
                     what: str = "condition") -> None:
    """Wait until ``predicate()`` holds; fail the test if it does not within ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(0.005)


class _Conn:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.muted = False

    def send(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)


class FakeAmi:
    def __init__(self, username: str = "test", secret: str = "secret") -> None:
        self.username, self.secret = username, secret
        self.port = 0
        self.actions: list[dict[str, str]] = []
        self.login_attempts = 0
        self.logins = 0
        self.connection_times: list[float] = []
        self.refuse_logins = False
        self.down = False
        self.silent_actions: set[str] = set()
        self.agi_result: AgiResponder | None = None
        self.uptime: int | None = None
        # lower-case action name -> the events of its list (each gets the action's ActionID)
        self.lists: dict[str, list[dict[str, str]]] = {"coreshowchannels": []}
        self.key_events = "before"  # DTMFEnd of a reported key: before, after or none
        self._conns: list[_Conn] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def __aenter__(self) -> FakeAmi:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop_connections()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            await self._server.wait_closed()

    # -- controls -------------------------------------------------------------------------

    @property
    def connections(self) -> int:
        return len(self._conns)

    def named(self, action: str) -> list[dict[str, str]]:
        """The recorded actions called ``action`` (case-insensitive)."""
        return [a for a in self.actions if a.get("Action", "").lower() == action.lower()]

    def push(self, data: bytes) -> None:
        """Send raw bytes to every connected client."""
        for conn in self._conns:
            conn.send(data)

    def mute_pings(self) -> None:
        """Stop answering Ping on the current connections (new ones answer again)."""
        for conn in self._conns:
            conn.muted = True

    def drop_connections(self) -> None:
        for conn in list(self._conns):
            conn.writer.transport.abort()
        self._conns.clear()

    # -- protocol -------------------------------------------------------------------------

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connection_times.append(time.monotonic())
        if self.down:
            writer.transport.abort()
            return
        conn = _Conn(writer)
        self._conns.append(conn)
        conn.send(BANNER)
        buffer = b""
        try:
            while data := await reader.read(4096):
                buffer += data
                while EOM in buffer:
                    raw, buffer = buffer.split(EOM, 1)
                    self._handle(conn, _headers(raw))
        except ConnectionError:
            pass
        finally:
            if conn in self._conns:
                self._conns.remove(conn)
            writer.transport.abort()

    def _handle(self, conn: _Conn, action: dict[str, str]) -> None:
        self.actions.append(action)
        name = action.get("Action", "").lower()
        action_id = ("ActionID", action.get("ActionID", ""))
        if name == "login":
            self.login_attempts += 1
            if self.refuse_logins or (action.get("Username"), action.get("Secret")) != (
                self.username, self.secret
            ):
                conn.send(message(("Response", "Error"), action_id,
                                  ("Message", "Authentication failed")))
                return
            self.logins += 1
            conn.send(message(("Response", "Success"), action_id,
                              ("Message", "Authentication accepted")))
            booted = {"Privilege": "system,all", "Status": "Fully Booted"}
            if self.uptime is not None:
                booted["Uptime"] = str(self.uptime)
            conn.send(event("FullyBooted", **booted))
        elif name in self.silent_actions:
            return
        elif name in self.lists:
            conn.send(message(("Response", "Success"), action_id, ("EventList", "start"),
                              ("Message", "Events will follow")))
            items = self.lists[name]
            for item in items:
                conn.send(message(*item.items(), action_id))
            conn.send(message(("Event", f"{action.get('Action', '')}Complete"), action_id,
                              ("EventList", "Complete"), ("ListItems", str(len(items)))))
        elif name == "ping":
            if not conn.muted:
                conn.send(message(("Response", "Success"), action_id, ("Ping", "Pong"),
                                  ("Timestamp", f"{SUITE_CLOCK().timestamp():.6f}")))
        elif name == "agi":
            conn.send(message(("Response", "Success"), action_id,
                              ("Message", "Added AGI command to queue")))
            channel, command = action.get("Channel", ""), action.get("Command", "")
            result = self.agi_result(channel, command) if self.agi_result else None
            if result is not None:
                key = reported_key(command, result)
                if key is not None and self.key_events == "before":
                    conn.send(dtmf(channel, key))
                conn.send(agi_exec(channel, action.get("CommandID", ""), result))
                if key is not None and self.key_events == "after":
                    conn.send(dtmf(channel, key))
        else:
            conn.send(message(("Response", "Success"), action_id))


def _headers(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep:
            headers[key] = value
    return headers


class Clients:
    """AmiClients on one fake server, with fast test intervals; ``close`` closes them all."""

    DEFAULTS: dict[str, Any] = {  # noqa: RUF012 - read-only defaults
        "action_timeout": 2.0, "ping_interval": 0.1, "ping_timeout": 0.5,
        "backoff_initial": 0.05, "backoff_max": 1.0,
    }

    def __init__(self, server: FakeAmi) -> None:
        self.server = server
        self._clients: list[AmiClient] = []

    def make(self, **options: Any) -> AmiClient:
        client = AmiClient("127.0.0.1", self.server.port, self.server.username,
                           self.server.secret, **{**self.DEFAULTS, **options})
        self._clients.append(client)
        return client

    async def ready(self, **options: Any) -> AmiClient:
        """A started client, logged in and ready."""
        client = self.make(**options)
        await client.start()
        await client.wait_ready(5)
        return client

    async def close(self) -> None:
        for client in self._clients:
            await client.close()
