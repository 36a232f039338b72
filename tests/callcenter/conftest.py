"""Fixtures of the call-center tests: an app on the test database, users by role."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import delete

from callcenter.agents.models import AgentStateChange, AgentStateRow, CallNote
from callcenter.app import create_app
from callcenter.auth import services as auth_services
from callcenter.auth.models import AuditEntry, AuthSession, User
from callcenter.db import Database
from callcenter.migrate import upgrade
from callcenter.queues.models import AgentSkill
from callcenter.queues.services import QueueService
from callcenter.settings import Settings
from ivr.pbx.sandbox import AsteriskSandbox
from tests.callcenter.util import PASSWORD, bearer, ensure_user, token_for
from tests.support import HTTP_TEST_PORT, SUITE_CLOCK, serve_env, sqlite_url

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

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture(scope="module")
def live_server(pbx: AsteriskSandbox, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("live")
    db_url = sqlite_url(tmp)
    upgrade(db_url)
    db = Database(db_url)
    queues = QueueService(db, SUITE_CLOCK)
    for username, role, interface, skills in LIVE_USERS:
        ensure_user(db, username, role, interface=interface)
        if skills:
            queues.set_agent_skills(username, skills, actor="test")
    db.dispose()
    hours = tmp / "hours.yaml"
    hours.write_text("hours:\n  - days: [1, 2, 3, 4, 5, 6, 7]\n    open: '00:00'\n"
                     "    close: '23:59'\nholidays: []\nworkdays: []\n")
    env = serve_env(db_url, hours, HOTLINE_KB_ENABLED="false", HOTLINE_WRAPUP_SECONDS="2")
    port = HTTP_TEST_PORT + 1
    log_path = tmp / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("hotline")), "serve",
                                 "--port", str(port)], env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        ok = False
        while time.monotonic() < deadline and proc.poll() is None and not ok:
            try:
                health = httpx.get(f"{base}/api/v1/health", timeout=2).json()
                ok = health.get("status") == "ok"
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.3)
        assert ok, log_path.read_text()[-3000:]
        yield LiveServer(base, db_url, pbx, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
