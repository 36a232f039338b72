"""Asterisk killed (SIGKILL) and started again in the middle of a call, with `hotline serve`, a
real SIPp caller and real SIPp agent phones (on SQLite and on PostgreSQL):

* while the caller waits in the queue (agent1's phone ringing, expert1 paused): one contact,
  ``abandoned_queue``, its queue wait running up to the crash;
* while the caller talks to agent1: one contact, ``answered``, its talk time running up to the
  crash, and agent1 can still write the call's notes.

Both end ``reconciled``, at a moment between the server's time just before the kill and just
after it (the times are the server's own; no wall clock is read here), and after the restart
every agent is back in its state, in the desk and in Asterisk's queues.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from ivr.ami.client import AmiClient
from ivr.pbx.sipp import Dtmf, Pause, SippRunner
from tests.callcenter.conftest import LiveServer
from tests.callcenter.util import bearer, members, wait_for
from tests.support import TEST_PORTS

# on both databases (issue 13): the console and the desk write most of what a call leaves
pytestmark = [pytest.mark.asterisk, pytest.mark.sqlite_calls,
              pytest.mark.usefixtures("everyone_logged_out")]

# the caller presses 0 (an agent) once the welcome prompt has played
KEY_AT_MS = 7000
TOLERANCE_S = 0.01  # durations are stored as floats of the same two instants


@dataclass
class Desk:
    """The live server seen by a supervisor, plus the test's SIPp phones."""

    server: LiveServer
    http: httpx.AsyncClient
    sup: dict[str, str]
    runner: SippRunner
    phones: list[subprocess.Popen[str]]

    async def board(self) -> dict[str, Any]:
        response = await self.http.get("/api/v1/agents/board", headers=self.sup)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def agent(self, username: str) -> dict[str, Any]:
        board = await self.board()
        return next(a for a in board["agents"] if a["username"] == username)

    async def set_state(self, username: str, state: str, reason: str | None = None) -> None:
        token = bearer(self.server.token(username))
        body: dict[str, Any] = {"state": state}
        if reason:
            body["reason"] = reason
        response = await self.http.post("/api/v1/agents/me/state", json=body, headers=token)
        assert response.status_code == 200, response.text

    def call(self, number: str) -> subprocess.Popen[str]:
        caller = self.runner.start_call([Pause(KEY_AT_MS), Dtmf("0")], TEST_PORTS.caller,
                                        number=number, timeout_s=150)
        self.phones.append(caller)
        return caller

    def phone(self, n: int, ring_ms: int, talk_ms: int) -> None:
        self.phones.append(self.runner.start_agent(TEST_PORTS.agent(n), ring_ms=ring_ms,
                                                   talk_ms=talk_ms))

    async def crash_and_restart(self, ami: AmiClient) -> tuple[datetime, datetime]:
        """Kill Asterisk and start it again; returns the server's time just before the kill
        and just after it (Asterisk is down then: nothing but the kill ends a call between)."""
        before = datetime.fromisoformat((await self.board())["at"])
        await asyncio.to_thread(self.server.pbx.crash)
        after = datetime.fromisoformat((await self.board())["at"])
        await asyncio.to_thread(self.server.pbx.start)
        await ami.wait_ready(60)
        return before, after

    async def contacts_of(self, number: str) -> list[dict[str, Any]]:
        response = await self.http.get("/api/v1/contacts", params={"caller": number},
                                       headers=self.sup)
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    async def ended_contact(self, number: str) -> dict[str, Any]:
        """The one contact of ``number`` once it has ended, with its timeline."""
        async def ended() -> list[dict[str, Any]] | None:
            rows = await self.contacts_of(number)
            return rows if rows and all(r["ended_at"] for r in rows) else None

        rows = await wait_for(ended, 60, f"the contact of {number} to end")
        assert len(rows) == 1, rows  # exactly one contact for the call
        response = await self.http.get(f"/api/v1/contacts/{rows[0]['id']}", headers=self.sup)
        assert response.status_code == 200, response.text
        return dict(response.json())


@pytest.fixture
async def desk(live_server: LiveServer) -> AsyncIterator[Desk]:
    http = live_server.client()
    desk = Desk(live_server, http, bearer(live_server.token("sup1")),
                SippRunner(live_server.pbx.root, TEST_PORTS.sip), [])
    try:
        yield desk
    finally:
        for proc in desk.phones:
            desk.runner.stop(proc)
        await http.aclose()
        log = live_server.log_tail()
        assert "Traceback" not in log, log


@contextlib.asynccontextmanager
async def listening(server: LiveServer, *topics: str) -> AsyncIterator[list[dict[str, Any]]]:
    """The payloads published on ``topics`` (``/api/v1/ws``, as a supervisor) while open."""
    url = server.base.replace("http://", "ws://", 1) + f"/api/v1/ws?topics={','.join(topics)}"
    received: list[dict[str, Any]] = []
    # a bearer token in a header (not in the URL: the access log would keep it)
    async with connect(url, additional_headers=bearer(server.token("sup1"))) as ws:
        hello = json.loads(await ws.recv())
        assert sorted(hello["payload"]["topics"]) == sorted(topics), hello

        async def pump() -> None:
            async for raw in ws:
                message = json.loads(raw)
                received.append({"topic": message["topic"], **message["payload"]})

        task = asyncio.create_task(pump())
        try:
            yield received
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def states(received: list[dict[str, Any]], username: str) -> list[str]:
    return [m["state"] for m in received if m["topic"] == f"agents.{username}"]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def event_at(contact: dict[str, Any], kind: str) -> datetime:
    return at(next(e["at"] for e in contact["events"] if e["kind"] == kind))


def check_reconciled_end(contact: dict[str, Any], before: datetime, after: datetime) -> None:
    """Ended once, by reconciliation, at the crash: between ``before`` and ``after``."""
    kinds = [e["kind"] for e in contact["events"]]
    assert kinds[0] == "call_started"
    assert kinds[-1] == "call_ended"
    assert kinds.count("call_ended") == 1
    assert contact["reconciled"] is True
    assert contact["events"][-1]["data"]["reconciled"] is True
    assert before <= at(contact["ended_at"]) <= after, (before, contact["ended_at"], after)
    assert contact["ivr_seconds"] is not None
    assert 0 < contact["ivr_seconds"] <= (
        event_at(contact, "queue_joined") - at(contact["started_at"])).total_seconds() + 1


async def test_asterisk_killed_while_a_caller_waits_in_the_queue(
        desk: Desk, ami: AmiClient) -> None:
    number = "13900000801"
    # expert1 is paused (training); agent1 is ready and its phone rings without answering
    await desk.set_state("expert1", "ready")
    await desk.set_state("expert1", "paused", "training")
    desk.phone(1, ring_ms=120_000, talk_ms=1000)
    await desk.set_state("agent1", "ready")
    desk.call(number)

    async def waiting_and_ringing() -> bool:
        board = await desk.board()
        agent1 = next(a for a in board["agents"] if a["username"] == "agent1")
        return (agent1["state"] == "ringing"
                and any(w["caller"] == number for w in board["waiting"]))

    await wait_for(waiting_and_ringing, 60, "the caller in consult, agent1's phone ringing")
    async with listening(desk.server, "calls.agent1", "agents.agent1") as received:
        before, after = await desk.crash_and_restart(ami)

        contact = await desk.ended_contact(number)
        assert contact["outcome"] == "abandoned_queue", contact
        assert contact["queue"] == "consult"
        assert contact["agent"] is None
        check_reconciled_end(contact, before, after)
        kinds = [e["kind"] for e in contact["events"]]
        assert "agent_ringing" in kinds
        assert "agent_connected" not in kinds
        # the wait ran from joining the queue up to the crash
        joined = event_at(contact, "queue_joined")
        assert contact["queue_wait_seconds"] == pytest.approx(
            (at(contact["ended_at"]) - joined).total_seconds(), abs=TOLERANCE_S)
        assert contact["queue_wait_seconds"] >= (before - joined).total_seconds()

        # agent1 ready again, expert1 still paused for training; nobody is left waiting
        async def restored() -> dict[tuple[str, str], dict[str, str]] | None:
            board = await desk.board()
            now = {a["username"]: (a["state"], a["reason"]) for a in board["agents"]}
            found = await members(ami)
            ok = (now["agent1"] == ("ready", None) and now["expert1"] == ("paused", "培训")
                  and not board["waiting"]
                  and found.get(("consult", "agent1"), {}).get("paused") == "0"
                  and found.get(("experts", "expert1"), {}).get("pausedreason") == "培训")
            return found if ok else None

        async def seen() -> tuple[dict[str, Any], dict[tuple[str, str], dict[str, str]]]:
            return await desk.board(), await members(ami)

        found = await wait_for(restored, 60, "agent1 ready, expert1 paused, no caller waiting",
                               seen)
    assert found[("experts", "expert1")]["paused"] == "1"
    assert (await desk.agent("agent1"))["linkedid"] is None
    # the ringing call card is closed; agent1 went from ringing straight back to ready
    assert {"topic": "calls.agent1", "type": "abandoned",
            "linkedid": contact["linkedid"]} in received
    assert states(received, "agent1") == ["ready"]


async def test_asterisk_killed_while_a_caller_talks_to_an_agent(
        desk: Desk, ami: AmiClient) -> None:
    number = "13900000802"
    desk.phone(1, ring_ms=500, talk_ms=120_000)
    await desk.set_state("agent1", "ready")
    desk.call(number)

    async def talking() -> dict[str, Any] | None:
        agent1 = await desk.agent("agent1")
        return agent1 if agent1["state"] == "on_call" else None

    linkedid = (await wait_for(talking, 60, "agent1 on the call"))["linkedid"]
    await asyncio.sleep(3)  # some talk time before the crash
    async with listening(desk.server, "calls.agent1", "agents.agent1") as received:
        before, after = await desk.crash_and_restart(ami)

        contact = await desk.ended_contact(number)
        assert contact["linkedid"] == linkedid
        assert contact["outcome"] == "answered", contact
        assert contact["agent"] == "agent1"
        assert contact["agents"] == ["agent1"]
        assert contact["queue"] == "consult"
        check_reconciled_end(contact, before, after)
        assert "agent_completed" not in [e["kind"] for e in contact["events"]]
        # Asterisk's hold time before the answer; the talk ran from the answer to the crash
        assert contact["queue_wait_seconds"] is not None
        assert 0 <= contact["queue_wait_seconds"] < 10
        connected = event_at(contact, "agent_connected")
        assert contact["talk_seconds"] == pytest.approx(
            (at(contact["ended_at"]) - connected).total_seconds(), abs=TOLERANCE_S)
        assert contact["talk_seconds"] >= (before - connected).total_seconds() >= 3

        # agent1 is ready again after the wrap-up, in the desk and unpaused in Asterisk
        async def restored() -> dict[tuple[str, str], dict[str, str]] | None:
            agent1 = await desk.agent("agent1")
            found = await members(ami)
            ok = (agent1["state"] == "ready" and agent1["linkedid"] is None
                  and found.get(("consult", "agent1"), {}).get("paused") == "0")
            return found if ok else None

        async def seen() -> tuple[dict[str, Any], dict[tuple[str, str], dict[str, str]]]:
            return await desk.agent("agent1"), await members(ami)

        await wait_for(restored, 60, "agent1 ready and unpaused in consult", seen)
    # the console was told the call ended; the agent wrapped up as after any call
    assert {"topic": "calls.agent1", "type": "completed", "linkedid": linkedid,
            "talk_time": None, "reason": "lost"} in received
    assert states(received, "agent1") == ["wrap_up", "ready"]
    # and still writes the notes of the cut-off call
    token = bearer(desk.server.token("agent1"))
    response = await desk.http.put(f"/api/v1/calls/{linkedid}/note", headers=token,
                                   json={"notes": "通话因交换机故障中断", "disposition": None})
    assert response.status_code == 200, response.text
