"""The outbound callback routes' refusals: 4xx with a reason in Chinese, never a 500."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from callcenter.tickets.models import CallbackRequest
from tests.support import SUITE_CLOCK


def _request(client: TestClient, status: str = "pending", **fields: object) -> int:
    db = client.app.state.db  # type: ignore[attr-defined]
    at = SUITE_CLOCK()
    with db.transaction() as session:
        row = CallbackRequest(number="13900001111", linkedid="", reason="坐席预约回电",
                              status=status, created_at=at, due_at=at + timedelta(hours=1),
                              **fields)
        session.add(row)
        session.flush()
        return row.id


def test_accept_and_skip_only_what_was_offered_to_me(
        client: TestClient, headers: dict[str, dict[str, str]]) -> None:
    pending = _request(client)
    answer = client.post(f"/api/v1/callbacks/{pending}/accept", headers=headers["agent"])
    assert answer.status_code == 409
    assert "未分配给任何坐席" in answer.json()["detail"]
    offered = _request(client, status="offered", offered_to="someone", claimed_by="pbx1")
    answer = client.post(f"/api/v1/callbacks/{offered}/skip", headers=headers["agent"])
    assert answer.status_code == 409
    assert "已分配给坐席 someone" in answer.json()["detail"]
    mine = _request(client, status="offered", offered_to="agent1", claimed_by="pbx1")
    answer = client.post(f"/api/v1/callbacks/{mine}/accept", headers=headers["agent"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["decision"] == "accept"
    again = client.post(f"/api/v1/callbacks/{mine}/skip", headers=headers["agent"])
    assert again.status_code == 409
    assert "已在处理中" in again.json()["detail"]
    done = _request(client, status="done", result="reached", offered_to="agent1")
    answer = client.post(f"/api/v1/callbacks/{done}/accept", headers=headers["agent"])
    assert answer.status_code == 409
    assert "已结束" in answer.json()["detail"]
    missing = client.post("/api/v1/callbacks/999999/accept", headers=headers["agent"])
    assert missing.status_code == 404
    # supervisors do not take previews
    assert client.post(f"/api/v1/callbacks/{mine}/accept",
                       headers=headers["supervisor"]).status_code == 403


def test_dial_now_refuses_unknown_agents_and_requests_in_hand(
        client: TestClient, headers: dict[str, dict[str, str]]) -> None:
    pending = _request(client)
    sup = headers["supervisor"]
    unknown = client.post(f"/api/v1/callbacks/{pending}/dial", json={"agent": "ghost"},
                          headers=sup)
    assert unknown.status_code == 404
    assert "坐席 ghost 不存在" in unknown.json()["detail"]
    not_staff = client.post(f"/api/v1/callbacks/{pending}/dial", json={"agent": "admin1"},
                            headers=sup)
    assert not_staff.status_code == 422
    assert "不是坐席或专家" in not_staff.json()["detail"]
    bad = client.post(f"/api/v1/callbacks/{pending}/dial", json={"agent": "a b"}, headers=sup)
    assert bad.status_code == 422
    ok = client.post(f"/api/v1/callbacks/{pending}/dial", json={"agent": "agent1"},
                     headers=sup)
    assert ok.status_code == 200, ok.text
    assert ok.json()["owner"] == "agent1"
    claimed = _request(client, status="dialling", offered_to="agent1", claimed_by="pbx1")
    answer = client.post(f"/api/v1/callbacks/{claimed}/dial", json={"agent": "agent1"},
                         headers=sup)
    assert answer.status_code == 409
    assert "已在处理中" in answer.json()["detail"]
    finished = _request(client, status="failed", result="no_answer")
    answer = client.post(f"/api/v1/callbacks/{finished}/dial", json={"agent": "agent1"},
                         headers=sup)
    assert answer.status_code == 409, answer.text
    assert "已结束" in answer.json()["detail"]
    assert client.post(f"/api/v1/callbacks/{pending}/dial", json={"agent": "agent1"},
                       headers=headers["agent"]).status_code == 403
    # the work list's own update refuses a request the dialler holds
    held = client.post(f"/api/v1/callbacks/{claimed}", json={"status": "done"},
                       headers=sup)
    assert held.status_code == 409


def test_wrong_number_only_after_a_reached_call_of_mine(
        client: TestClient, headers: dict[str, dict[str, str]]) -> None:
    agent = headers["agent"]
    body = {"result": "wrong_number"}
    pending = _request(client)
    answer = client.post(f"/api/v1/callbacks/{pending}/result", json=body, headers=agent)
    assert answer.status_code == 409
    assert "没有已接通的回电" in answer.json()["detail"]
    other = _request(client, status="done", result="reached", offered_to="someone")
    answer = client.post(f"/api/v1/callbacks/{other}/result", json=body, headers=agent)
    assert answer.status_code == 403
    assert client.post(f"/api/v1/callbacks/{other}/result", json={"result": "reached"},
                       headers=agent).status_code == 422
    mine = _request(client, status="done", result="reached", offered_to="agent1")
    answer = client.post(f"/api/v1/callbacks/{mine}/result", json=body, headers=agent)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["result"]) == ("failed", "wrong_number")
    again = client.post(f"/api/v1/callbacks/{mine}/result", json=body, headers=agent)
    assert again.status_code == 409


def test_outbound_statistics_refuse_a_bad_range(
        client: TestClient, headers: dict[str, dict[str, str]]) -> None:
    bad = client.get("/api/v1/stats/outbound", params={"from": "yesterday", "to": "today"},
                     headers=headers["supervisor"])
    assert bad.status_code == 422
    day = SUITE_CLOCK().date().isoformat()
    ok = client.get("/api/v1/stats/outbound", params={"from": day, "to": day},
                    headers=headers["supervisor"])
    assert ok.status_code == 200, ok.text
    assert set(ok.json()["contacts_by_direction"]) == {"inbound", "outbound"}
    assert client.get("/api/v1/stats/outbound", params={"from": day, "to": day},
                      headers=headers["agent"]).status_code == 403
