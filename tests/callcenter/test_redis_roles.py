"""The process roles' Redis bus (callcenter/bus.py, docs/deployment.md), on the real Redis:
two API workers (two apps on one database and one Redis prefix) share notifications, the login
limit and session endings; the desk's commands reach the bridge of the agent's node, and
without one the API answers 503 / 504 with a Chinese reason.

Each test has its own key prefix, so runs and workers never hear each other."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from callcenter.agents.commands import DeskCommands, live_nodes
from callcenter.agents.services import AgentDesk
from callcenter.app import create_app
from callcenter.bus import RedisBus
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.notify.messages import CallRinging, QueueBoard, WallboardFigures
from callcenter.notify.redisbus import RedisNotifier
from callcenter.queues.services import QueueService
from callcenter.settings import Settings
from tests.callcenter.util import PASSWORD, bearer, ensure_user
from tests.support import REDIS_URL, SUITE_CLOCK

# the fixture `prefix` (a key prefix of the test's own): tests/callcenter/conftest.py


def ringing(caller: str) -> CallRinging:
    return CallRinging(linkedid="l-1", caller=caller, queue="consult", contact_id=None,
                       ivr_path=(), ivr_path_labels=(), digits=(), faqs=(), asked=(),
                       taxpayer=None, wait_s=None, previous=())


async def test_a_notification_published_in_one_process_reaches_the_subscribers_of_all(
        prefix: str) -> None:
    buses = [RedisBus(REDIS_URL, prefix) for _ in range(2)]
    bridge, worker = (RedisNotifier(SUITE_CLOCK, bus) for bus in buses)
    for bus in buses:
        await bus.start()
    try:
        sub = worker.subscribe("calls.agent1")
        here = bridge.subscribe("calls.agent1", "wallboard")
        for n in range(5):
            bridge.call_ringing("agent1", ringing(f"1380000000{n}"))
        bridge.call_ringing("agent2", ringing("13900000000"))  # not agent1's topic
        received = [await sub.get(5) for _ in range(5)]
        assert [m.payload["caller"] for m in received] == [f"1380000000{n}" for n in range(5)]
        assert [m.seq for m in received] == [1, 2, 3, 4, 5]  # numbered by the receiver
        assert isinstance(received[0].notification(), CallRinging)
        # the publisher's own subscribers too, through Redis like everyone
        assert [(await here.get(5)).payload["caller"] for _ in range(5)] == [
            f"1380000000{n}" for n in range(5)]
        # the wallboard is each worker's own: never carried to the others
        bridge.wallboard(WallboardFigures(figures={"answered": 1}))
        assert (await here.get(5)).kind == "wallboard"
        worker_wall = worker.subscribe("wallboard")
        bridge.wallboard(WallboardFigures(figures={"answered": 2}))
        bridge.call_ringing("agent1", ringing("13800000009"))
        assert (await sub.get(5)).payload["caller"] == "13800000009"
        assert worker_wall.queue.empty()
        assert worker.received == bridge.received == 7
    finally:
        for bus in buses:
            await bus.close()


def board(agent: str, state: str, waiting: float | None) -> QueueBoard:
    callers: tuple[dict[str, Any], ...] = ({
        "linkedid": f"l-{agent}", "queue": "consult", "caller": "1", "wait_s": waiting},
    ) if waiting is not None else ()
    return QueueBoard(at=SUITE_CLOCK().isoformat(),
                      agents=({"username": agent, "state": state},),
                      by_state={"ready": int(state == "ready"), "paused": int(state == "paused")},
                      waiting=callers, longest_wait_s=waiting or 0.0,
                      queues={"consult": {"waiting": len(callers),
                                          "longest_wait_s": waiting or 0.0}})


async def test_the_live_board_merges_the_boards_of_every_node(prefix: str) -> None:
    buses = [RedisBus(REDIS_URL, prefix) for _ in range(3)]
    node1 = RedisNotifier(SUITE_CLOCK, buses[0], node="pbx1")
    node2 = RedisNotifier(SUITE_CLOCK, buses[1], node="pbx2")
    worker = RedisNotifier(SUITE_CLOCK, buses[2])
    for bus in buses:
        await bus.start()
    try:
        sub = worker.subscribe("queues")
        node1.queue_board(board("agent1", "ready", None))
        assert [a["username"] for a in (await sub.get(5)).payload["agents"]] == ["agent1"]
        node2.queue_board(board("agent2", "paused", 12.5))
        merged = (await sub.get(5)).payload
        assert [a["username"] for a in merged["agents"]] == ["agent1", "agent2"]
        assert merged["by_state"] == {"ready": 1, "paused": 1}
        assert merged["longest_wait_s"] == 12.5
        assert merged["queues"]["consult"] == {"waiting": 1, "longest_wait_s": 12.5}
        node1.queue_board(board("agent1", "paused", 3.0))  # a node's new board replaces its old
        merged = (await sub.get(5)).payload
        assert merged["by_state"] == {"ready": 0, "paused": 2}
        assert [w["wait_s"] for w in merged["waiting"]] == [12.5, 3.0]
    finally:
        for bus in buses:
            await bus.close()


async def test_a_message_outside_the_contract_is_refused_not_delivered(prefix: str) -> None:
    bus = RedisBus(REDIS_URL, prefix)
    notifier = RedisNotifier(SUITE_CLOCK, bus)
    await bus.start()
    try:
        sub = notifier.subscribe("*")
        bus.send(bus.name("notify"), {"topic": "calls.agent1", "kind": "call_ringing",
                                      "at": SUITE_CLOCK().isoformat(), "payload": {"caller": "1"}})
        notifier.call_ringing("agent1", ringing("13800000000"))
        assert (await sub.get(5)).payload["caller"] == "13800000000"
        assert bus.handler_errors == 1
    finally:
        await bus.close()


def kill_connections(client_name: str) -> int:
    """Close every Redis connection named ``client_name`` (a network drop, seen from Redis)."""
    admin = redis.Redis.from_url(REDIS_URL)
    try:
        ids = [c["id"] for c in admin.client_list() if c.get("name") == client_name]
        for client_id in ids:
            admin.client_kill_filter(_id=client_id)
        return len(ids)
    finally:
        admin.close()


async def test_a_notification_sent_while_a_worker_lost_redis_reaches_it_when_it_is_back(
        prefix: str) -> None:
    # the worker's connections are cut, and the bridge sends at once: pub/sub dropped such a
    # message (its subscriber was not there); the stream keeps it until the worker reads on
    buses = [RedisBus(REDIS_URL, prefix, client_name=f"{prefix}:{role}")
             for role in ("bridge", "worker")]
    bridge, worker = (RedisNotifier(SUITE_CLOCK, bus) for bus in buses)
    for bus in buses:
        await bus.start()
    try:
        sub = worker.subscribe("calls.agent1")
        bridge.call_ringing("agent1", ringing("13800000000"))
        assert (await sub.get(5)).payload["caller"] == "13800000000"
        for n in range(1, 4):
            assert await asyncio.to_thread(kill_connections, f"{prefix}:worker") >= 1
            bridge.call_ringing("agent1", ringing(f"1380000000{n}"))
            assert (await sub.get(10)).payload["caller"] == f"1380000000{n}"
        assert buses[1].read_errors >= 1  # the cut was seen, and read on from there
        assert worker.received == 4
        # and the count of listeners of a durable channel is every process reading it (the
        # worker's subscription, cut too, is made again)
        listening = 0
        for _ in range(100):
            listening = await buses[0].listeners(buses[0].name("notify"))
            if listening == 2:
                break
            await asyncio.sleep(0.1)
        assert listening == 2
    finally:
        for bus in buses:
            await bus.close()


# -- two API workers -------------------------------------------------------------------------


def worker_settings(db_url: str, prefix: str, **extra: Any) -> Settings:
    return Settings(database_url=db_url, ami_enabled=False, kb_enabled=False,
                    redis_url=REDIS_URL, redis_prefix=prefix, login_max_failures=3,
                    login_window_s=60, ws_session_check_s=600, **extra)


@contextlib.contextmanager
def two_workers(db_url: str, prefix: str, **extra: Any) -> Iterator[tuple[TestClient,
                                                                          TestClient]]:
    with TestClient(create_app(worker_settings(db_url, prefix, **extra), SUITE_CLOCK),
                    base_url="https://testserver") as a, \
            TestClient(create_app(worker_settings(db_url, prefix, **extra), SUITE_CLOCK),
                       base_url="https://testserver") as b:
        yield a, b


def login(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


def test_failed_logins_count_across_workers(db_url: str, clean_users: Database,
                                            prefix: str) -> None:
    ensure_user(clean_users, "agent1", "agent", interface="PJSIP/agent1")
    with two_workers(db_url, prefix) as (a, b):
        assert login(a, "agent1", "wrong-password-1").status_code == 401
        assert login(b, "agent1", "wrong-password-2").status_code == 401
        assert login(a, "agent1", "wrong-password-3").status_code == 401
        # the limit (3) is reached on both: even the right password waits now
        for worker in (a, b):
            refused = login(worker, "agent1")
            assert refused.status_code == 429, refused.text
            assert "登录尝试过于频繁" in refused.json()["detail"]
            assert int(refused.headers["retry-after"]) > 1
    with two_workers(db_url, f"{prefix}-other") as (a, _b):  # another hotline on this Redis
        assert login(a, "agent1").status_code == 200


def test_logout_on_one_worker_ends_the_sockets_on_the_other(db_url: str, clean_users: Database,
                                                             prefix: str) -> None:
    ensure_user(clean_users, "agent1", "agent", interface="PJSIP/agent1")
    with two_workers(db_url, prefix) as (a, b):
        token = login(a, "agent1").json()["access_token"]
        with b.websocket_connect("/api/v1/ws", headers=bearer(token)) as ws:
            assert ws.receive_json()["topic"] == "hello"
            assert a.post("/api/v1/auth/logout", headers=bearer(token)).status_code == 204
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()  # nothing more arrives: the socket closes
        assert closed.value.code == 4401


def test_a_command_for_a_node_without_a_bridge_is_refused_in_chinese(
        db_url: str, clean_users: Database, prefix: str) -> None:
    ensure_user(clean_users, "agent1", "agent", interface="PJSIP/agent1")
    with two_workers(db_url, prefix, bridge_command_timeout_s=0.5) as (a, b):
        token = login(a, "agent1").json()["access_token"]
        # nobody listens for node pbx1: 503 at once
        response = b.post("/api/v1/agents/me/state", json={"state": "ready"},
                          headers=bearer(token))
        assert response.status_code == 503, response.text
        assert response.json()["detail"] == (
            "交换机节点 pbx1 的桥接服务未运行，暂时无法操作，请稍后再试或联系管理员")
        # a bridge that hears the command but never answers: 504 after the timeout
        mute = redis.Redis.from_url(REDIS_URL).pubsub()  # type: ignore[no-untyped-call]
        mute.subscribe(f"{prefix}:bridge:pbx1:commands")
        try:
            response = b.get("/api/v1/agents/me", headers=bearer(token))
            assert response.status_code == 504, response.text
            assert response.json()["detail"] == (
                "交换机节点 pbx1 的桥接服务在 0.5 秒内未应答，请稍后再试")
            assert mute.get_message(timeout=2)["type"] == "subscribe"
            request = mute.get_message(timeout=2)
            assert b'"op":"state"' in request["data"]
        finally:
            mute.close()


@pytest.fixture
async def bridges(db_url: str, clean_users: Database, prefix: str
                  ) -> AsyncIterator[dict[str, AgentDesk]]:
    """The desks of two nodes' bridges (no Asterisk: the desks answer without AMI)."""
    for username, node in (("agent1", None), ("agent2", "pbx2")):
        ensure_user(clean_users, username, "agent", interface=f"PJSIP/{username}")
        if node:
            from callcenter.auth.services import UserService

            UserService(clean_users, SUITE_CLOCK).update_user(username, actor="test", node=node)
        QueueService(clean_users, SUITE_CLOCK).set_agent_skills(username, {"general": 0},
                                                                actor="test")
    ensure_user(clean_users, "sup1", "supervisor")
    desks: dict[str, AgentDesk] = {}
    running: list[tuple[RedisBus, DeskCommands]] = []
    for node in ("pbx1", "pbx2"):
        bus = RedisBus(REDIS_URL, prefix)
        notifier = RedisNotifier(SUITE_CLOCK, bus)
        desk = AgentDesk.build(clean_users, QueueService(clean_users, SUITE_CLOCK), notifier,
                               ContactService(clean_users), clock=SUITE_CLOCK, node=node,
                               default_node="pbx1")
        await asyncio.to_thread(desk.load)
        commands = DeskCommands(bus, desk, node, status=lambda: {"ami_ready": False})
        await bus.start()
        await commands.claim()
        desks[node] = desk
        running.append((bus, commands))
    yield desks
    for bus, commands in running:
        await commands.release()
        await bus.close()


async def test_each_agent_is_served_by_the_bridge_of_their_node(
        db_url: str, prefix: str, bridges: dict[str, AgentDesk]) -> None:
    assert set(bridges["pbx1"].agents) == {"agent1"}
    assert set(bridges["pbx2"].agents) == {"agent2"}
    bus = RedisBus(REDIS_URL, prefix)
    await bus.start()
    try:
        nodes = await live_nodes(bus)
        assert list(nodes) == ["pbx1", "pbx2"]
        # a second bridge for a node refuses to start while the first holds it
        from callcenter.agents.commands import NodeTaken

        with pytest.raises(NodeTaken):
            await DeskCommands(bus, bridges["pbx2"], "pbx2").claim(wait_s=0)
    finally:
        await bus.close()

    def through_workers() -> list[Any]:
        with two_workers(db_url, prefix) as (a, b):
            token = login(a, "agent2").json()["access_token"]
            me = b.get("/api/v1/agents/me", headers=bearer(token))
            # the bridge of pbx2 answers, with its desk's refusal (no AMI there): 503
            ready = b.post("/api/v1/agents/me/state", json={"state": "ready"},
                           headers=bearer(token))
            sup_token = login(b, "sup1").json()["access_token"]
            board = a.get("/api/v1/agents/board", headers=bearer(sup_token))
            unknown = a.post("/api/v1/agents/nobody/state", json={"state": "logged_out"},
                             headers=bearer(sup_token))
            transfer = b.post("/api/v1/agents/me/transfer", json={"queue": "experts"},
                              headers=bearer(token))
            note = a.put("/api/v1/calls/l-9/note", json={"notes": "x"}, headers=bearer(token))
            # hold and monitoring are commands to the agent's node too
            hold = a.post("/api/v1/agents/me/hold", headers=bearer(token))
            listen = b.post("/api/v1/agents/agent2/monitor", json={"mode": "listen"},
                            headers=bearer(sup_token))
            consult = b.post("/api/v1/agents/me/consult", json={}, headers=bearer(token))
            cancel = a.post("/api/v1/agents/me/consult/cancel", headers=bearer(token))
            return [me, ready, board, unknown, transfer, note, hold, listen, consult, cancel]

    (me, ready, board, unknown, transfer, note, hold,
     listen, consult, cancel) = await asyncio.to_thread(through_workers)
    assert hold.status_code == 409, hold.text
    assert hold.json()["detail"] == "当前没有通话，不能保持"
    # the consultative transfer's steps are commands to the agent's node as well
    assert consult.status_code == 409, consult.text
    assert consult.json()["detail"] == "当前没有通话，不能咨询转接"
    assert cancel.status_code == 409, cancel.text
    assert cancel.json()["detail"] == "当前没有进行中的咨询转接"
    # sup1 has no phone here; pbx2's bridge says so
    assert listen.status_code == 409, listen.text
    assert listen.json()["detail"].startswith("您的账号未配置话机")
    # the transfer went to pbx2's bridge, whose desk refuses it: no call
    assert transfer.status_code == 409, transfer.text
    assert transfer.json()["detail"] == "当前没有通话，不能转接"
    # a note of a call the agent neither handled (database) nor is on (pbx2's bridge)
    assert note.status_code == 403, note.text
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "agent2"
    assert me.json()["state"] == "logged_out"
    assert ready.status_code == 503, ready.text
    assert ready.json()["detail"] == "与交换机（Asterisk）的连接暂不可用，请稍后再试"
    assert board.status_code == 200, board.text
    assert [a["username"] for a in board.json()["agents"]] == ["agent1", "agent2"]
    assert board.json()["by_state"]["logged_out"] == 2
    assert unknown.status_code == 404, unknown.text
    assert "nobody" in unknown.json()["detail"]


def test_the_roles_that_need_redis_refuse_to_start_without_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from callcenter import cli
    from callcenter.settings import get_settings

    monkeypatch.delenv("HOTLINE_REDIS_URL", raising=False)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        serve = runner.invoke(cli.app, ["serve", "--workers", "2", "--no-migrate"])
        assert serve.exit_code == 2
        assert "--workers above 1 needs HOTLINE_REDIS_URL" in serve.output
        bridge = runner.invoke(cli.app, ["bridge", "--node", "pbx2"])
        assert bridge.exit_code == 2
        assert "needs HOTLINE_REDIS_URL" in bridge.output
        bad = runner.invoke(cli.app, ["bridge", "--node", "pbx 2"])
        assert bad.exit_code == 2
    finally:
        get_settings.cache_clear()


def test_an_api_worker_needs_no_ami_secret_a_bridge_does(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from callcenter import cli
    from callcenter.settings import deployment_problems, get_settings

    worker = Settings(redis_url=REDIS_URL, env="production")
    assert not [p for p in deployment_problems(worker, "127.0.0.1") if "AMI_SECRET" in p]
    alone = Settings(env="production")
    assert [p for p in deployment_problems(alone, "127.0.0.1") if "AMI_SECRET" in p]
    monkeypatch.setenv("HOTLINE_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("HOTLINE_ENV", "production")
    monkeypatch.delenv("HOTLINE_AMI_SECRET", raising=False)
    get_settings.cache_clear()
    try:
        bridge = CliRunner().invoke(cli.app, ["bridge", "--node", "pbx1"])
    finally:
        get_settings.cache_clear()
    assert bridge.exit_code == 2
    assert "HOTLINE_AMI_SECRET still has its shipped default value" in bridge.output
