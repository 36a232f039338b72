"""The hotline as it is deployed on several processes (docs/deployment.md), all real: two
sandboxed Asterisk nodes (two port sets), one `hotline bridge` each, two API workers
(`hotline serve` with HOTLINE_REDIS_URL), Redis and PostgreSQL.

* a call on each node lands as one contact each;
* an agent of node 2 made ready through worker A sees, on a WebSocket of worker B, the ring and
  the call card of a call on node 2;
* pauses made through worker B are confirmed by the Asterisk of the agent's node (and the
  other node never has the agent);
* with node 2's bridge stopped, its agent's commands are refused with 503 in Chinese.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from websockets.asyncio.client import connect

from callcenter.db import Database
from callcenter.queues.services import QueueService
from ivr.ami.client import AmiClient
from ivr.pbx.sandbox import AsteriskSandbox, PbxPorts, SandboxError
from ivr.pbx.sipp import Dtmf, Hangup, Pause, SippRunner
from tests.callcenter.util import PASSWORD, bearer, ensure_user, members, wait_for
from tests.conftest import fresh_database
from tests.support import (
    PORT_BASE,
    RECORDINGS_DIR,
    SOUNDS_DIR,
    SUITE_CLOCK,
    TEST_CREDENTIALS,
    TEST_PORTS,
    TEST_STATE_DIR,
    serve_env,
    serving,
)

pytestmark = [pytest.mark.asterisk, pytest.mark.postgres]

REDIS_URL = "redis://127.0.0.1:6379/0"
HOTLINE = str(Path(sys.executable).with_name("hotline"))
ALWAYS_OPEN = Path(__file__).parent / "data" / "hours_always_open.yaml"
# node 2 inside this port base's block of 1000 (node 1: tests/support.py TEST_PORTS): SIPp
# phones at sip+10.. (media +400, control +600), RTP apart from everything else
NODE2_PORTS = PbxPorts(ami=PORT_BASE + 40, sip=PORT_BASE + 80, rtp_start=PORT_BASE + 700,
                       rtp_end=PORT_BASE + 899)
WORKER_PORTS = (PORT_BASE + 390, PORT_BASE + 391)


@pytest.fixture(scope="module")
def pbx2(pbx: AsteriskSandbox) -> Iterator[AsteriskSandbox]:
    """The second Asterisk node (the first is the suite's ``pbx``)."""
    sandbox = AsteriskSandbox(TEST_STATE_DIR.with_name(f"{TEST_STATE_DIR.name}-node2"),
                              SOUNDS_DIR,
                              RECORDINGS_DIR.with_name(f"{RECORDINGS_DIR.name}-node2"),
                              ports=NODE2_PORTS, credentials=TEST_CREDENTIALS, system_name="pbx2",
                              boot_timeout=120.0)
    try:
        sandbox.start()
    except SandboxError as exc:
        pytest.fail(f"the second Asterisk node did not start: {exc}")
    yield sandbox
    sandbox.stop()


@dataclass
class Deployment:
    workers: tuple[str, str]
    prefix: str
    db_url: str
    logs: Path
    bridges: dict[str, subprocess.Popen[bytes]]
    envs: dict[str, dict[str, str]]

    def token(self, worker: int, username: str) -> str:
        response = httpx.post(f"{self.workers[worker]}/api/v1/auth/login",
                              json={"username": username, "password": PASSWORD}, timeout=15)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def tails(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2500:]}"
                         for p in sorted(self.logs.glob("*.log")))


def start_bridge(env: dict[str, str], node: str, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen([HOTLINE, "bridge", "--node", node], env=env, stdout=log,
                                stderr=subprocess.STDOUT)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def bridges_ready(base: str) -> dict[str, Any]:
    health = httpx.get(f"{base}/api/v1/health", timeout=5).json()
    return dict(health["checks"].get("bridges", {}).get("nodes", {}))


@pytest.fixture
def deployment(pbx: AsteriskSandbox, pbx2: AsteriskSandbox,
               tmp_path: Path) -> Iterator[Deployment]:
    prefix = f"hotline-test-{uuid.uuid4().hex[:12]}"
    with fresh_database("postgresql", tmp_path) as db_url, contextlib.ExitStack() as stack:
        db = Database(db_url)
        queues = QueueService(db, SUITE_CLOCK)
        # agent1's phone is registered to node 1 (the default node), agent2's to node 2
        ensure_user(db, "agent1", "agent", interface="PJSIP/agent1")
        ensure_user(db, "agent2", "agent", interface="PJSIP/agent1")
        from callcenter.auth.services import UserService

        UserService(db, SUITE_CLOCK).update_user("agent2", actor="test", node="pbx2")
        for username in ("agent1", "agent2"):
            queues.set_agent_skills(username, {"general": 0}, actor="test")
        ensure_user(db, "sup1", "supervisor")
        db.dispose()
        common = {"HOTLINE_REDIS_URL": REDIS_URL, "HOTLINE_REDIS_PREFIX": prefix,
                  "HOTLINE_KB_ENABLED": "false", "HOTLINE_WRAPUP_SECONDS": "2",
                  "HOTLINE_NODE": "pbx1", "HOTLINE_BRIDGE_COMMAND_TIMEOUT_S": "10"}
        envs = {
            "pbx1": serve_env(db_url, ALWAYS_OPEN, **common,
                              HOTLINE_SPOOL_DIR=str(tmp_path / "spool-pbx1")),
            "pbx2": serve_env(db_url, ALWAYS_OPEN, **common,
                              HOTLINE_SPOOL_DIR=str(tmp_path / "spool-pbx2"),
                              HOTLINE_AMI_PORT=str(NODE2_PORTS.ami),
                              HOTLINE_PBX_SIP_PORT=str(NODE2_PORTS.sip)),
        }
        workers = tuple(
            stack.enter_context(serving(
                serve_env(db_url, ALWAYS_OPEN, **common,
                          HOTLINE_SPOOL_DIR=str(tmp_path / f"spool-api{n}")),
                port, tmp_path / f"api{n}.log"))
            for n, port in enumerate(WORKER_PORTS))
        bridges = {node: start_bridge(env, node, tmp_path / f"bridge-{node}.log")
                   for node, env in envs.items()}
        deployment = Deployment((workers[0], workers[1]), prefix, db_url, tmp_path, bridges,
                                envs)
        try:
            deadline = time.monotonic() + 120
            nodes: dict[str, Any] = {}
            while time.monotonic() < deadline:
                nodes = bridges_ready(workers[1])
                if set(nodes) == {"pbx1", "pbx2"} and all(
                        n.get("ami_ready") for n in nodes.values()):
                    break
                assert all(p.poll() is None for p in bridges.values()), deployment.tails()
                time.sleep(0.5)
            assert set(nodes) == {"pbx1", "pbx2"}, (nodes, deployment.tails())
            # each bridge holds the agents of its node only
            assert [nodes[n]["agents"] for n in ("pbx1", "pbx2")] == [1, 1], nodes
            yield deployment
        finally:
            for proc in bridges.values():
                stop_process(proc)
            client = redis.Redis.from_url(REDIS_URL)
            keys = list(client.scan_iter(match=f"{prefix}:*"))
            if keys:
                client.delete(*keys)
            client.close()


@contextlib.asynccontextmanager
async def driver(ports: PbxPorts) -> AsyncIterator[AmiClient]:
    """The test's own AMI hands on one node (the driver account)."""
    assert TEST_CREDENTIALS.driver_user is not None
    client = AmiClient("127.0.0.1", ports.ami, TEST_CREDENTIALS.driver_user,
                       TEST_CREDENTIALS.driver_secret, backoff_max=1.0)
    await client.start()
    await client.wait_ready(20)
    try:
        yield client
    finally:
        await client.close()


async def post(base: str, path: str, token: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=20) as http:
        return await http.post(path, json=body, headers=bearer(token))


async def get(base: str, path: str, token: str, **params: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=20) as http:
        return await http.get(path, params=params, headers=bearer(token))


async def next_of(ws: Any, kind: str, seen: list[dict[str, Any]]) -> dict[str, Any]:
    """The next message of ``kind`` on the socket (what comes before it is kept in seen)."""
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 90))
        seen.append(message)
        if message.get("kind") == kind:
            return message


async def test_two_nodes_two_bridges_two_workers(deployment: Deployment,
                                                 pbx: AsteriskSandbox,
                                                 pbx2: AsteriskSandbox) -> None:
    worker_a, worker_b = deployment.workers
    agent2 = deployment.token(0, "agent2")       # logged in through worker A
    sup = deployment.token(1, "sup1")
    runner1 = SippRunner(pbx.root, TEST_PORTS.sip)
    runner2 = SippRunner(pbx2.root, NODE2_PORTS.sip)
    phone: subprocess.Popen[str] | None = None
    caller1: subprocess.Popen[str] | None = None
    caller2: subprocess.Popen[str] | None = None
    async with driver(TEST_PORTS) as ami1, driver(NODE2_PORTS) as ami2, \
            connect(worker_b.replace("http", "ws", 1) + "/api/v1/ws",
                    additional_headers=bearer(agent2)) as ws:
        try:
            hello = json.loads(await ws.recv())
            assert hello["payload"]["topics"] == ["agents.agent2", "calls.agent2"]
            # agent2 goes ready through worker A: node 2's Asterisk has the member, node 1 not
            ready = await post(worker_a, "/api/v1/agents/me/state", agent2, {"state": "ready"})
            assert ready.status_code == 200, (ready.text, deployment.tails())
            assert ready.json()["state"] == "ready"
            assert (await members(ami2))[("consult", "agent2")]["paused"] == "0"
            assert not any(name == "agent2" for _q, name in await members(ami1))

            # agent2's phone on node 2; a caller on node 2 asks for an agent, one on node 1
            # listens to the welcome and hangs up
            phone = runner2.start_agent(NODE2_PORTS.agent(1), ring_ms=2000, talk_ms=3000)
            caller2 = runner2.start_call([Pause(7000), Dtmf("0")], NODE2_PORTS.caller,
                                         number="13900000702", timeout_s=120)
            caller1 = runner1.start_call([Pause(4000), Hangup()], TEST_PORTS.caller,
                                         number="13900000701", timeout_s=60)

            # worker B's socket: the ring, then the call card of the node 2 call
            seen: list[dict[str, Any]] = []
            ringing_state = await next_of(ws, "agent_state", seen)
            while ringing_state["payload"]["state"] != "ringing":
                ringing_state = await next_of(ws, "agent_state", seen)
            assert ringing_state["topic"] == "agents.agent2"
            card = await next_of(ws, "call_ringing", seen)
            assert card["topic"] == "calls.agent2"
            assert card["payload"]["caller"] == "13900000702"
            assert card["payload"]["queue"] == "consult"
            assert card["payload"]["ivr_path"][0] == "welcome", card
            connected = await next_of(ws, "call_connected", seen)
            assert connected["payload"]["linkedid"] == card["payload"]["linkedid"]

            # both calls end; each is one contact, complete
            for call in (caller1, caller2):
                await asyncio.to_thread(call.wait, 150)
            calls = [SippRunner.stop(call) for call in (caller1, caller2)]

            async def contacts_of(number: str) -> list[dict[str, Any]]:
                response = await get(worker_b, "/api/v1/contacts", sup, caller=number)
                assert response.status_code == 200, response.text
                return list(response.json()["items"])

            async def both_ended() -> Any:
                found = [await contacts_of(n) for n in ("13900000701", "13900000702")]
                done = all(f and all(c.get("ended_at") for c in f) for f in found)
                return found if done else None

            async def what() -> Any:
                return (await asyncio.gather(*(contacts_of(n) for n in
                                               ("13900000701", "13900000702"))), calls)

            found = await wait_for(both_ended, 60, "both contacts ended", seen=what)
            assert [len(f) for f in found] == [1, 1], (found, calls)
            assert found[1][0]["outcome"] == "answered", found
            assert found[1][0]["agent"] == "agent2"
            assert found[0][0]["outcome"] != "answered"
            assert found[0][0]["linkedid"] != found[1][0]["linkedid"]

            # pauses through worker B, confirmed by the Asterisk of the agent's node
            async def paused() -> httpx.Response | None:
                response = await post(worker_b, "/api/v1/agents/agent2/state", sup,
                                      {"state": "paused", "reason": "meeting"})
                return response if response.status_code == 200 else None

            pause = await wait_for(paused, 20, "agent2 paused after the wrap-up")
            assert pause.json()["state"] == "paused"
            member = (await members(ami2))[("consult", "agent2")]
            assert (member["paused"], member["pausedreason"]) == ("1", "会议")
            agent1 = deployment.token(1, "agent1")
            response = await post(worker_b, "/api/v1/agents/me/state", agent1, {"state": "ready"})
            assert response.status_code == 200, response.text
            response = await post(worker_b, "/api/v1/agents/me/state", agent1,
                                  {"state": "paused", "reason": "training"})
            assert response.status_code == 200, response.text
            member = (await members(ami1))[("consult", "agent1")]
            assert (member["paused"], member["pausedreason"]) == ("1", "培训")
            assert not any(name == "agent1" for _q, name in await members(ami2))
            # the board merges both nodes
            board = (await get(worker_a, "/api/v1/agents/board", sup)).json()
            assert {a["username"]: a["state"] for a in board["agents"]} == {
                "agent1": "paused", "agent2": "paused"}

            # node 2's bridge stops: its agent's commands are refused, node 1's still work
            stop_process(deployment.bridges["pbx2"])
            refused = await post(worker_b, "/api/v1/agents/agent2/state", sup,
                                 {"state": "logged_out"})
            assert refused.status_code == 503, refused.text
            assert "交换机节点 pbx2 的桥接服务未运行" in refused.json()["detail"]
            out = await post(worker_a, "/api/v1/agents/agent1/state", sup,
                             {"state": "logged_out"})
            assert out.status_code == 200, out.text
            assert not any(name == "agent1" for _q, name in await members(ami1))
        except BaseException:
            print(deployment.tails())
            raise
        finally:
            for proc in (phone, caller1, caller2):
                if proc is not None:
                    SippRunner.stop(proc)
            # node 2 keeps no member of this test for the next one
            with contextlib.suppress(Exception):
                await ami2.send_action({"Action": "QueueRemove", "Queue": "consult",
                                        "Interface": "PJSIP/agent1"})
