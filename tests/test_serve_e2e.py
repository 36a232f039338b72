"""The README loop, end to end: `hotline serve` with its bridge on the real Asterisk answers
/api/v1/health, and `hotline pbx call` places a SIPp call and prints the logged contact."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from callcenter.contacts.services import ContactService
from callcenter.db import Database
from ivr.pbx.sandbox import AsteriskSandbox
from tests.callcenter.util import PASSWORD, bearer, ensure_user
from tests.support import CALL_LIMIT_S, HTTP_TEST_PORT, TEST_PORTS, serve_env, serving

pytestmark = [pytest.mark.asterisk, pytest.mark.sqlite_calls]

HTTP_PORT = HTTP_TEST_PORT
HOTLINE = str(Path(sys.executable).with_name("hotline"))


@pytest.fixture
def env(db_url: str, suite_moment: datetime) -> dict[str, str]:
    # FAQ answers need the knowledge base; agents are in at any hour of the test. The server
    # runs from each of the suite's moments (tests/conftest.py suite_moment): from
    # new-years-eve's, its calls cross into 2027
    return serve_env(db_url, Path(__file__).parent / "data" / "hours_always_open.yaml",
                     HOTLINE_CLOCK_START=suite_moment.isoformat())


@pytest.fixture
def server(pbx: AsteriskSandbox, env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    with serving(env, HTTP_PORT, tmp_path / "serve.log") as base:
        yield base


def test_serve_reports_health_and_pbx_call_prints_the_contact(
    contacts: ContactService, server: str, env: dict[str, str], tmp_path: Path
) -> None:
    # ``contacts`` empties the contact log first: the list below counts this test's calls
    health = httpx.get(f"{server}/api/v1/health").json()
    assert health["checks"]["database"]["ok"] is True
    assert health["checks"]["ami"]["ok"] is True
    assert health["checks"]["ami"]["address"] == f"127.0.0.1:{TEST_PORTS.ami}"

    # 1 1 1: consultation, VAT, the VAT law FAQ; 0: an agent. The two calls at once, as
    # two callers would (each about a minute long), from two caller ports
    # (their output to files: a pipe left unread while the other call is awaited could fill)
    calls: dict[str, subprocess.Popen[bytes]] = {}
    for n, digits in enumerate(("111", "0")):
        with (tmp_path / f"call-{digits}.out").open("wb") as out, \
                (tmp_path / f"call-{digits}.err").open("wb") as err:
            calls[digits] = subprocess.Popen(
                [HOTLINE, "pbx", "call", "12366", "--digits", digits,
                 "--number", f"1380000000{digits[0]}", "--http-port", str(HTTP_PORT),
                 "--caller-port", str(TEST_PORTS.sip + 20 + n),
                 *([] if digits == "0" else ["--no-agent"])],
                env=env, stdout=out, stderr=err)
    for proc in calls.values():
        proc.wait(timeout=CALL_LIMIT_S)
    for digits, outcome in (("111", "self_service"), ("0", "answered")):
        said = (tmp_path / f"call-{digits}.err").read_text(errors="replace")
        assert calls[digits].returncode == 0, said[-3000:]
        contact = json.loads((tmp_path / f"call-{digits}.out").read_text())
        assert contact["outcome"] == outcome, contact
        assert contact["caller_number"] == f"1380000000{digits[0]}"
        kinds = [e["kind"] for e in contact["events"]]
        assert kinds[0] == "call_started"
        assert kinds[-1] == "call_ended"
    # the server's bridge, not the commands, served the calls: it counted the sessions
    bridge = httpx.get(f"{server}/api/v1/health").json()["checks"]["bridge"]
    assert bridge["sessions_started"] >= 2
    assert bridge["dtmf_events"] is True  # the keys came as DTMF events (type-ahead)

    # the contact list needs a login (a supervisor sees every contact), through the server:
    # a session is dated by the server's clock, not the test's
    db = Database(env["HOTLINE_DATABASE_URL"])
    ensure_user(db, "e2e-supervisor", "supervisor")
    db.dispose()
    login = httpx.post(f"{server}/api/v1/auth/login",
                       json={"username": "e2e-supervisor", "password": PASSWORD})
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    assert httpx.get(f"{server}/api/v1/contacts").status_code == 401
    listed = httpx.get(f"{server}/api/v1/contacts", headers=bearer(token)).json()
    assert listed["total"] == 2
