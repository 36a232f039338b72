"""The desk's HTTP API without Asterisk: role rules of writes, bad payloads (422 with a
reason), refused transitions (409) and the WebSocket's login and topic rules."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from callcenter.db import Database
from callcenter.notify.messages import CallRinging, ConsultationSubmitted, WallboardFigures
from tests.callcenter.util import bearer, token_for

H = dict[str, dict[str, str]]


def ringing(caller: str) -> CallRinging:
    """A call card with nothing but the caller."""
    return CallRinging(linkedid="L-ws", caller=caller, queue="consult", contact_id=None,
                       ivr_path=(), ivr_path_labels=(), digits=(), faqs=(), asked=(),
                       taxpayer=None, wait_s=None)


@pytest.mark.parametrize(("method", "path", "body"), [
    ("PUT", "/api/v1/queues/tax-vat", {"title": "增值税", "skill": "vat"}),
    ("PUT", "/api/v1/skills/cit", {"title": "企业所得税"}),
    ("PUT", "/api/v1/agents/agent1/skills", {"skills": {"general": 0}}),
    ("PUT", "/api/v1/pause-reasons/study", {"title": "学习"}),
    ("PUT", "/api/v1/dispositions/followup", {"title": "需跟进"}),
    ("POST", "/api/v1/queues/push", None),
])
def test_only_admins_change_the_configuration(client: TestClient, headers: H, method: str,
                                              path: str, body: object) -> None:
    assert client.request(method, path, json=body).status_code == 401
    for role in ("agent", "expert", "supervisor"):
        response = client.request(method, path, json=body, headers=headers[role])
        assert response.status_code == 403, (role, response.text)
    response = client.request(method, path, json=body, headers=headers["admin"])
    assert response.status_code == 200, response.text


def test_agents_cannot_change_other_agents(client: TestClient, headers: H) -> None:
    response = client.post("/api/v1/agents/agent1/state", json={"state": "logged_out"},
                           headers=headers["expert"])
    assert response.status_code == 403
    response = client.post("/api/v1/agents/me/state", json={"state": "ready"},
                           headers=headers["supervisor"])
    assert response.status_code == 403
    # a supervisor pauses or logs out, but never makes an agent ready
    response = client.post("/api/v1/agents/agent1/state", json={"state": "ready"},
                           headers=headers["supervisor"])
    assert response.status_code == 403
    # notes only on one's own calls
    response = client.put("/api/v1/calls/L-someone/note", json={"notes": "x"},
                          headers=headers["agent"])
    assert response.status_code == 403


@pytest.mark.parametrize(("path", "body", "reason"), [
    ("/api/v1/agents/me/state", {"state": "paused"}, "原因"),
    ("/api/v1/agents/me/state", {"state": "ready", "reason": "break"}, "原因"),
    ("/api/v1/agents/me/state", {"state": "dancing"}, "state"),
    ("/api/v1/agents/me/state", {}, "state"),
    ("/api/v1/agents/me/transfer", {"queue": "Experts!"}, "queue"),
    ("/api/v1/agents/me/consult", {"queue": "experts", "agent": "agent2"},
     "请只选择一个咨询对象：队列或坐席，不能同时指定"),
    ("/api/v1/agents/me/consult", {"agent": ""}, "agent"),
])
def test_bad_agent_payloads_are_422(client: TestClient, headers: H, path: str,
                                    body: object, reason: str) -> None:
    response = client.post(path, json=body, headers=headers["agent"])
    assert response.status_code == 422, response.text
    assert reason in response.json()["detail"]


@pytest.mark.parametrize(("path", "body", "reason"), [
    ("/api/v1/queues/tax-vat", {"title": "增值税", "skill": "nope"}, "技能 nope 不存在"),
    ("/api/v1/queues/tax-vat", {"title": "增值税", "skill": "vat", "overflow_to": "tax-vat"},
     "不能是队列本身"),
    ("/api/v1/queues/tax-vat", {"title": "增值税", "skill": "vat", "overflow_to": "ghost"},
     "溢出队列 ghost 不存在"),
    ("/api/v1/queues/tax-vat", {"title": "增值税", "skill": "vat", "strategy": "lottery"},
     "strategy"),
    ("/api/v1/queues/tax-vat", {"title": "增值税", "skill": "vat", "overflow_after_s": 1},
     "overflow_after_s"),
    ("/api/v1/queues/Bad%20Name", {"title": "x", "skill": "vat"}, "name"),
    ("/api/v1/agents/agent1/skills", {"skills": {"astrology": 0}}, "astrology"),
    ("/api/v1/agents/agent1/skills", {"skills": {"vat": 11}}, "0 到 10"),
])
def test_bad_configuration_is_422(client: TestClient, headers: H, path: str, body: object,
                                  reason: str) -> None:
    response = client.put(path, json=body, headers=headers["admin"])
    assert response.status_code == 422, response.text
    assert reason in response.json()["detail"]


def test_refused_transition_is_409_and_no_asterisk_is_503(client: TestClient,
                                                          headers: H) -> None:
    response = client.post("/api/v1/agents/me/state", json={"state": "paused",
                                                             "reason": "break"},
                           headers=headers["agent"])
    assert response.status_code == 409
    assert "未签入" in response.json()["detail"]
    response = client.post("/api/v1/agents/me/state", json={"state": "ready"},
                           headers=headers["agent"])
    assert response.status_code == 409  # agent1 has no skills in this database
    client.put("/api/v1/agents/agent1/skills", json={"skills": {"general": 0}},
               headers=headers["admin"])
    response = client.post("/api/v1/agents/me/state", json={"state": "ready"},
                           headers=headers["agent"])
    assert response.status_code == 503  # this app runs without Asterisk
    assert "交换机" in response.json()["detail"]


def test_admin_changes_are_audited(client: TestClient, headers: H) -> None:
    response = client.put("/api/v1/queues/tax-vat",
                          json={"title": "增值税", "skill": "vat", "overflow_to": "consult",
                                "overflow_after_s": 60}, headers=headers["admin"])
    assert response.status_code == 200, response.text
    assert response.json()["overflow_after_s"] == 60
    audit = client.get("/api/v1/audit", params={"action": "queue.update"},
                       headers=headers["admin"]).json()
    assert audit[0]["target"] == "tax-vat"
    assert audit[0]["detail"]["overflow_after_s"] == 60
    lookups = client.get("/api/v1/desk/lookups", headers=headers["agent"]).json()
    assert {"code": "meal", "title": "用餐"} in lookups["pause_reasons"]
    assert {"name": "experts", "title": "专家坐席", "expert": True} in lookups["queues"]


def test_websocket_needs_a_login_and_keeps_topics_to_their_role(client: TestClient,
                                                                 headers: H) -> None:
    with pytest.raises(WebSocketDisconnect) as closed, \
            client.websocket_connect("/api/v1/ws") as ws:
        ws.receive_json()
    assert closed.value.code == 4401
    notifier = client.app.state.notifier  # type: ignore[attr-defined]
    with client.websocket_connect("/api/v1/ws?topics=agents,wallboard",
                                  headers=headers["agent"]) as ws:
        hello = ws.receive_json()
        assert hello["payload"]["refused"] == ["agents", "wallboard"]
        assert hello["payload"]["topics"] == []
        ws.send_json({"subscribe": ["calls.agent1", "calls.expert1"]})
        answer = ws.receive_json()
        assert answer["payload"] == {"topics": ["calls.agent1"], "refused": ["calls.expert1"]}
        notifier.call_ringing("expert1", ringing("13700000000"))
        notifier.call_ringing("agent1", ringing("13800000000"))
        message = ws.receive_json()
        assert message["topic"] == "calls.agent1"
        assert message["payload"]["caller"] == "13800000000"
    with client.websocket_connect("/api/v1/ws?topics=wallboard",
                                  headers=headers["supervisor"]) as ws:
        assert ws.receive_json()["payload"]["topics"] == ["wallboard"]
        notifier.wallboard(WallboardFigures(figures={"answered": 3}))
        assert ws.receive_json()["payload"] == {"answered": 3}


def test_every_call_centre_role_hears_of_new_consultations(client: TestClient, headers: H,
                                                           clean_users: Database) -> None:
    notifier = client.app.state.notifier  # type: ignore[attr-defined]
    note = ConsultationSubmitted(ticket_no="T1", channel="web", question="发票怎么开？",
                                 number_masked="138****8000", created_at="2026-12-01T01:00:00",
                                 due_at="2026-12-04T09:30:00")
    for role in ("agent", "expert", "supervisor", "admin"):
        with client.websocket_connect("/api/v1/ws?topics=consult",
                                      headers=headers[role]) as ws:
            assert ws.receive_json()["payload"]["topics"] == ["consult"]
            notifier.consultation_submitted(note)
            message = ws.receive_json()
            assert (message["topic"], message["kind"]) == ("consult", "consult_submitted")
            assert message["payload"]["type"] == "consult_new"
            assert message["payload"]["ticket_no"] == "T1"
    editor = bearer(token_for(clean_users, "editor1", "editor"))
    with client.websocket_connect("/api/v1/ws?topics=consult", headers=editor) as ws:
        assert ws.receive_json()["payload"]["refused"] == ["consult"]
