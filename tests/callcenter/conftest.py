"""Fixtures of the call-center tests: an app on the test database, users by role."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from playwright.async_api import Browser
from sqlalchemy import delete

from callcenter.agents.models import AgentStateChange, AgentStateRow, CallNote
from callcenter.app import create_app
from callcenter.auth import services as auth_services
from callcenter.auth.models import AuditEntry, AuthSession, User
from callcenter.db import Database
from callcenter.queues.models import AgentSkill
from callcenter.queues.services import QueueService
from callcenter.settings import Settings
from ivr.ami.client import AmiClient
from ivr.pbx.sandbox import AsteriskSandbox
from tests.callcenter.browser import chromium
from tests.callcenter.util import PASSWORD, bearer, ensure_user, token_for
from tests.conftest import DATABASES, fresh_database
from tests.support import HTTP_TEST_PORT, REDIS_URL, SUITE_CLOCK, driver_ami, serve_env, serving
from tests.unit.fake_ami import FakeAmi

ROLES = ("agent", "expert", "supervisor", "admin")


@pytest.fixture(autouse=True, scope="session")
def _light_password_hashing() -> Iterator[None]:
    """Argon2id with light parameters in these tests: the same code path, a fraction of the
    CPU (the defaults cost ~0.5 s per hash on a busy CI machine). Production keeps defaults."""
    light = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(auth_services, "_hasher", light)
        patch.setattr(auth_services, "_DUMMY_HASH", light.hash("not-a-real-password"))
        yield


@pytest.fixture
def prefix() -> Iterator[str]:
    """A Redis key prefix of the test's own (runs and workers never hear each other); its keys
    are deleted afterwards."""
    name = f"hotline-test-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{name}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def clean_users(database: Database) -> Database:
    with database.transaction() as session:
        for table in (AuthSession, AuditEntry, User, AgentSkill, AgentStateRow,
                      AgentStateChange, CallNote):
            session.execute(delete(table))
    return database


@pytest.fixture
def client(db_url: str, clean_users: Database) -> Iterator[TestClient]:
    settings = Settings(database_url=db_url, ami_enabled=False, kb_enabled=False,
                        login_max_failures=3, login_window_s=60)
    with TestClient(create_app(settings, SUITE_CLOCK),
                    base_url="https://testserver") as test_client:
        yield test_client


@pytest.fixture
def headers(clean_users: Database) -> dict[str, dict[str, str]]:
    """Authorization headers by role: users agent1 (PJSIP/agent1), expert1, sup1, admin1."""
    names = {"agent": "agent1", "expert": "expert1", "supervisor": "sup1", "admin": "admin1"}
    phones = {"agent": "PJSIP/agent1", "expert": "PJSIP/agent2"}
    return {role: bearer(token_for(clean_users, names[role], role, interface=phones.get(role)))
            for role in ROLES}


# -- a live `hotline serve` on the test Asterisk (console and PBX tests) -------------------

LIVE_USERS = [  # username, role, interface, skills
    ("agent1", "agent", "PJSIP/agent1", {"general": 0}),
    ("expert1", "expert", "PJSIP/agent2", {"expert": 0}),
    ("sup1", "supervisor", None, {}),
    ("admin1", "admin", None, {}),
]


@dataclass
class LiveServer:
    base: str
    db_url: str
    pbx: AsteriskSandbox
    log_path: Path

    def token(self, username: str, password: str = PASSWORD) -> str:
        response = httpx.post(f"{self.base}/api/v1/auth/login",
                              json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def client(self) -> httpx.AsyncClient:
        """An HTTP client for the server that opens a connection per request: a kept-alive
        one idle for uvicorn's 5 s keep-alive (a browser step takes longer) can be closed by
        the server just as the next request goes out on it (httpcore.ReadError, seen in CI)."""
        return httpx.AsyncClient(base_url=self.base, timeout=15,
                                 limits=httpx.Limits(max_keepalive_connections=0))

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


ALWAYS_OPEN = Path(__file__).parents[1] / "data" / "hours_always_open.yaml"


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    """A fake AMI server (tests/unit/fake_ami.py) for the desk's unit tests."""
    async with FakeAmi() as server:
        yield server


def seed_live_users(db_url: str) -> None:
    """The live servers' users (LIVE_USERS) with their phones and skills."""
    db = Database(db_url)
    try:
        queues = QueueService(db, SUITE_CLOCK)
        for username, role, interface, skills in LIVE_USERS:
            ensure_user(db, username, role, interface=interface)
            if skills:
                queues.set_agent_skills(username, skills, actor="test")
    finally:
        db.dispose()


@pytest.fixture(scope="module", params=DATABASES)
def live_server(request: pytest.FixtureRequest, pbx: AsteriskSandbox,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`hotline serve` on the test Asterisk, one per module and database kind (a fresh SQLite
    file or a throw-away PostgreSQL database), open around the clock so that no test depends on
    the time of day it runs at."""
    tmp = tmp_path_factory.mktemp("live")
    with fresh_database(request.param, tmp) as db_url:
        seed_live_users(db_url)
        env = serve_env(db_url, ALWAYS_OPEN, HOTLINE_KB_ENABLED="false",
                        HOTLINE_WRAPUP_SECONDS="2")
        log_path = tmp / "serve.log"
        with serving(env, HTTP_TEST_PORT + 1, log_path) as base:
            yield LiveServer(base, db_url, pbx, log_path)


@pytest.fixture
async def ami(live_server: LiveServer) -> AsyncIterator[AmiClient]:
    """The test's own AMI hands on the live server's Asterisk (the driver account: it
    originates calls and runs CLI commands, which the hotline's account may not)."""
    client = driver_ami(backoff_max=1.0)
    await client.start()
    await client.wait_ready(20)
    yield client
    await client.close()


def log_everyone_out(server: LiveServer) -> None:
    sup = bearer(server.token("sup1"))
    board = httpx.get(f"{server.base}/api/v1/agents/board", headers=sup).json()
    for agent in board["agents"]:
        if agent["state"] != "logged_out":
            response = httpx.post(
                f"{server.base}/api/v1/agents/{agent['username']}/state",
                json={"state": "logged_out"}, headers=sup, timeout=10)
            assert response.status_code == 200, response.text


@pytest.fixture
def everyone_logged_out(live_server: LiveServer) -> Iterator[None]:
    """Every agent logged out before the test and after it: the live server is shared by the
    module, and Asterisk (with its queue members) by the whole session."""
    log_everyone_out(live_server)
    yield
    log_everyone_out(live_server)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A headless chromium for the test (tests/callcenter/browser.py)."""
    async with chromium() as instance:
        yield instance
