"""Accounts, login, sessions and the role rule of every endpoint (401 / 403 / 422)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from callcenter.contacts.services import ContactService
from callcenter.db import Database
from ivr.ports import ContactEvent, EventKind
from tests.callcenter.util import PASSWORD, ensure_user

# (method, path, roles allowed); json bodies are filled in by the test where needed
RULES: list[tuple[str, str, set[str]]] = [
    ("GET", "/api/v1/contacts", {"agent", "expert", "supervisor", "admin"}),
    ("GET", "/api/v1/auth/me", {"agent", "expert", "supervisor", "admin"}),
    ("GET", "/api/v1/users", {"admin"}),
    ("GET", "/api/v1/audit", {"admin"}),
    ("GET", "/api/v1/agents/board", {"supervisor", "admin"}),
    ("GET", "/api/v1/agents/me", {"agent", "expert"}),
    ("GET", "/api/v1/agents/ready", {"agent", "expert"}),
    ("GET", "/api/v1/desk/lookups", {"agent", "expert", "supervisor", "admin"}),
    ("GET", "/api/v1/queues", {"agent", "expert", "supervisor", "admin"}),
    ("GET", "/api/v1/skills", {"agent", "expert", "supervisor", "admin"}),
    ("GET", "/api/v1/calls/L-none/notes", {"supervisor", "admin"}),  # others: not their call
]


def test_health_stays_open(client: TestClient) -> None:
    assert client.get("/api/v1/health").status_code == 200


@pytest.mark.parametrize(("method", "path", "allowed"), RULES)
def test_role_rules(client: TestClient, headers: dict[str, dict[str, str]], method: str,
                    path: str, allowed: set[str]) -> None:
    response = client.request(method, path)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    bad = client.request(method, path, headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401
    for role, auth in headers.items():
        response = client.request(method, path, headers=auth)
        expected = 200 if role in allowed else 403
        assert response.status_code == expected, (role, response.text)
        if expected == 403:
            assert response.json()["detail"], response.text  # a reason for people


def test_kb_search_needs_a_login(client: TestClient, headers: dict[str, dict[str, str]]
                                 ) -> None:
    assert client.get("/api/v1/kb/search", params={"q": "发票"}).status_code == 401
    # logged in: the check passes; the base is disabled in this app, so 503 (not 401/403)
    response = client.get("/api/v1/kb/search", params={"q": "发票"}, headers=headers["agent"])
    assert response.status_code == 503


def test_login_json_and_form_give_token_and_secure_cookie(client: TestClient,
                                                          clean_users: Database) -> None:
    ensure_user(clean_users, "agent7", "agent")
    response = client.post("/api/v1/auth/login",
                           json={"username": "agent7", "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["user"]["role"] == "agent"
    cookie = response.headers["set-cookie"].lower()
    assert "hotline_session=" in cookie
    assert "httponly" in cookie
    assert "secure" in cookie
    assert "samesite=strict" in cookie
    me = client.get("/api/v1/auth/me",
                    headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["username"] == "agent7"
    # the cookie alone also authenticates (the console)
    assert client.get("/api/v1/auth/me").json()["username"] == "agent7"

    form = client.post("/api/v1/auth/login",
                       data={"username": "agent7", "password": PASSWORD})
    assert form.status_code == 200
    assert form.json()["access_token"] != body["access_token"]


def test_logout_revokes_the_token(client: TestClient, clean_users: Database) -> None:
    ensure_user(clean_users, "agent8", "agent")
    token = client.post("/api/v1/auth/login",
                        json={"username": "agent8", "password": PASSWORD}).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/v1/auth/logout", headers=auth).status_code == 204
    client.cookies.clear()
    assert client.get("/api/v1/auth/me", headers=auth).status_code == 401


@pytest.mark.parametrize(("payload", "reason"), [
    ({"username": "x"}, "password"),
    ({"password": "x"}, "username"),
    ({"username": "", "password": "x"}, "username"),
    ([1, 2], "username"),
])
def test_bad_login_payloads_are_422_with_a_reason(client: TestClient, payload: object,
                                                  reason: str) -> None:
    response = client.post("/api/v1/auth/login", json=payload)
    assert response.status_code == 422
    assert reason in response.json()["detail"]


def test_not_json_is_422(client: TestClient) -> None:
    response = client.post("/api/v1/auth/login", content=b"{oops",
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 422


def test_wrong_password_is_401_and_logins_are_rate_limited(client: TestClient,
                                                            clean_users: Database) -> None:
    ensure_user(clean_users, "agent9", "agent")
    for _ in range(3):  # login_max_failures=3 in this app
        response = client.post("/api/v1/auth/login",
                               json={"username": "agent9", "password": "wrong-password"})
        assert response.status_code == 401
        assert response.json()["detail"] == "用户名或密码错误"
    limited = client.post("/api/v1/auth/login",
                          json={"username": "agent9", "password": PASSWORD})
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    # unknown users get the same answer as a wrong password
    unknown = client.post("/api/v1/auth/login",
                          json={"username": "nobody", "password": "whatever"})
    assert unknown.status_code in (401, 429)


def test_only_admin_manages_users_and_it_is_audited(client: TestClient,
                                                    headers: dict[str, dict[str, str]]) -> None:
    new = {"username": "agent5", "password": "blue-lantern-42", "role": "agent",
           "interface": "PJSIP/agent3"}
    assert client.post("/api/v1/users", json=new).status_code == 401
    assert client.post("/api/v1/users", json=new, headers=headers["supervisor"]
                       ).status_code == 403
    created = client.post("/api/v1/users", json=new, headers=headers["admin"])
    assert created.status_code == 201, created.text
    again = client.post("/api/v1/users", json=new, headers=headers["admin"])
    assert again.status_code == 409
    assert "已存在" in again.json()["detail"]
    for bad, field in [({**new, "username": "a b"}, "username"),
                       ({**new, "password": "short"}, "password"),
                       ({**new, "role": "boss"}, "role"),
                       ({**new, "interface": "evil;rm"}, "interface"),
                       ({**new, "extra": 1}, "extra")]:
        response = client.post("/api/v1/users", json=bad, headers=headers["admin"])
        assert response.status_code == 422, bad
        assert field in response.json()["detail"], bad
    off = client.patch("/api/v1/users/agent5", json={"active": False}, headers=headers["admin"])
    assert off.status_code == 200
    assert off.json()["active"] is False
    assert client.patch("/api/v1/users/ghost", json={"active": False},
                        headers=headers["admin"]).status_code == 404
    assert client.patch("/api/v1/users/admin1", json={"role": "agent"},
                        headers=headers["admin"]).status_code == 409
    audit = client.get("/api/v1/audit", headers=headers["admin"]).json()
    actions = [(a["actor"], a["action"], a["target"]) for a in audit]
    assert ("admin1", "user.create", "agent5") in actions
    assert ("admin1", "user.update", "agent5") in actions
    # a deactivated user cannot log in
    login = client.post("/api/v1/auth/login",
                        json={"username": "agent5", "password": "blue-lantern-42"})
    assert login.status_code == 401


def test_agents_see_only_their_own_contacts(client: TestClient, database: Database,
                                            headers: dict[str, dict[str, str]],
                                            contacts: ContactService) -> None:
    at = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    for linkedid, agents in [("L-own", ["agent1", "expert1"]), ("L-other", ["agent3"])]:
        contacts.apply(ContactEvent.parse(linkedid, EventKind.CALL_STARTED, {"caller": "1"}, at=at))
        contacts.apply(ContactEvent.parse(linkedid, EventKind.QUEUE_JOINED, {"queue": "consult"},
                                    at=at))
        for agent in agents:
            contacts.apply(ContactEvent.parse(linkedid, EventKind.AGENT_CONNECTED,
                                        {"queue": "consult", "agent": agent}, at=at))
    mine = client.get("/api/v1/contacts", headers=headers["agent"]).json()
    assert [c["linkedid"] for c in mine["items"]] == ["L-own"]
    # the expert the call was transferred to sees it too
    theirs = client.get("/api/v1/contacts", headers=headers["expert"]).json()
    assert [c["linkedid"] for c in theirs["items"]] == ["L-own"]
    everything = client.get("/api/v1/contacts", headers=headers["supervisor"]).json()
    assert everything["total"] == 2
    ids = {c["linkedid"]: c["id"] for c in everything["items"]}
    detail = client.get(f"/api/v1/contacts/{ids['L-own']}", headers=headers["agent"]).json()
    assert detail["agents"] == ["agent1", "expert1"]
    assert client.get(f"/api/v1/contacts/{ids['L-other']}",
                      headers=headers["agent"]).status_code == 403
