"""Quality review over the API on a real database (SQLite and PostgreSQL): versioned forms,
a supervisor's review of a recorded call, the agent reading and acknowledging it, the audit
rows, and every refusal as a 4xx with its Chinese reason."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from callcenter.app import create_app
from callcenter.auth.services import UserService
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.quality.models import Review, ReviewForm
from callcenter.quality.services import (
    Criterion,
    QualityError,
    check_form,
    check_scores,
    weighted_total,
)
from callcenter.recordings.models import Recording
from callcenter.recordings.services import RecordingService
from callcenter.settings import Settings
from ivr.clock import FixedClock
from ivr.ports import ContactEvent, EventKind
from tests.callcenter.test_recordings import write_wav
from tests.callcenter.util import bearer, ensure_user, token_for
from tests.support import SUITE_CLOCK

STANDARD = [
    {"key": "greeting", "title": "开场问候", "max_score": 10, "weight": 15},
    {"key": "accuracy", "title": "政策解答准确性", "max_score": 10, "weight": 40},
    {"key": "attitude", "title": "服务态度", "max_score": 10, "weight": 30},
    {"key": "closing", "title": "结束语", "max_score": 5, "weight": 15},
]
GOOD = {"greeting": 10, "accuracy": 8, "attitude": 9, "closing": 5}
# 100 * (15*10/10 + 40*8/10 + 30*9/10 + 15*5/5) / 100
GOOD_TOTAL = 89.0


def clear_quality(database: Database) -> None:
    with database.transaction() as session:
        for table in (Review, ReviewForm, Recording):
            session.execute(delete(table))


def recorded_call(contacts: ContactService, recordings: RecordingService, linkedid: str,
                  *agents: str, recording: str | None = "file") -> int:
    """An ended call that ``agents`` took, with a call recording (``recording``: "file" a
    WAV in the store, "row" a row whose file is gone, None no recording); its contact id."""
    at = SUITE_CLOCK() - timedelta(hours=1)
    connected: list[tuple[EventKind, dict[str, object]]] = [
        (EventKind.AGENT_CONNECTED, {"agent": a, "queue": "consult"}) for a in agents]
    steps: list[tuple[EventKind, dict[str, object]]] = [
        (EventKind.CALL_STARTED, {"caller": "13800002222", "channel": "PJSIP/x"}), *connected,
        (EventKind.CALL_ENDED, {"cause": 16})]
    for n, (kind, data) in enumerate(steps):
        contacts.apply(ContactEvent.parse(linkedid, kind, data, at=at + timedelta(seconds=n)))
    if recording is not None:
        name = f"call-{linkedid}.wav"
        if recording == "file":
            write_wav(recordings.store / name, 0.5)
        recordings.register(linkedid, "call", name, "consult", at=at)
    contact = contacts.get_by_linkedid(linkedid)
    assert contact is not None
    return contact.id


@dataclass
class Setup:
    client: TestClient
    h: dict[str, dict[str, str]]
    clock: FixedClock
    contacts: ContactService
    recordings: RecordingService
    db: Database

    def form(self, criteria: list[dict[str, Any]] | None = None, name: str = "standard"
             ) -> dict[str, Any]:
        response = self.client.put(f"/api/v1/quality/forms/{name}", headers=self.h["admin1"],
                                   json={"title": "标准评分表", "criteria": criteria or STANDARD})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def review(self, who: str, contact_id: int, agent: str, form_id: int,
               scores: dict[str, Any], comment: str = "") -> Any:
        return self.client.post("/api/v1/quality/reviews", headers=self.h[who], json={
            "contact_id": contact_id, "agent": agent, "form_id": form_id, "scores": scores,
            "comment": comment})


@pytest.fixture
def setup(db_url: str, clean_users: Database, contacts: ContactService,
          tmp_path: Path) -> Iterator[Setup]:
    clear_quality(clean_users)
    clock = FixedClock(SUITE_CLOCK())
    recordings = RecordingService(clean_users, tmp_path, clock, retention_days=30)
    users = {"agent1": "agent", "agent2": "agent", "expert1": "expert", "sup1": "supervisor",
             "sup2": "supervisor", "admin1": "admin"}
    ensure_user(clean_users, "agent1", "agent")
    UserService(clean_users, SUITE_CLOCK).update_user("agent1", actor="test",
                                                      display_name="王小丽")
    h = {name: bearer(token_for(clean_users, name, role)) for name, role in users.items()}
    settings = Settings(database_url=db_url, ami_enabled=False, kb_enabled=False,
                        recordings_dir=tmp_path)
    with TestClient(create_app(settings, clock), base_url="https://testserver") as client:
        yield Setup(client, h, clock, contacts, recordings, clean_users)


def test_the_weighted_total_and_the_checks_of_scores() -> None:
    criteria = check_form("standard", "标准", STANDARD)
    assert weighted_total(criteria, GOOD) == GOOD_TOTAL
    assert weighted_total(criteria, dict.fromkeys(GOOD, 0)) == 0.0
    assert weighted_total(criteria, {"greeting": 10, "accuracy": 10, "attitude": 10,
                                     "closing": 5}) == 100.0
    # a third of a criterion's maximum, rounded to one decimal
    one = [Criterion("a", "甲", 3, 1.0)]
    assert weighted_total(one, {"a": 1}) == 33.3
    refusals: list[tuple[dict[str, Any], str]] = [
        ({**GOOD, "accuracy": 11}, "“政策解答准确性”的得分 11 超过满分 10"),
        ({k: v for k, v in GOOD.items() if k != "closing"}, "缺少评分项：结束语"),
        ({**GOOD, "speed": 3}, "评分表中没有评分项：speed"),
        ({**GOOD, "greeting": -1}, "“开场问候”的得分不能为负数"),
        ({**GOOD, "greeting": 2.5}, "“开场问候”的得分须为整数"),
    ]
    for scores, reason in refusals:
        with pytest.raises(QualityError) as refused:
            check_scores(criteria, scores)
        assert (refused.value.detail, refused.value.status) == (reason, 422)


def test_a_supervisor_scores_a_call_and_the_agent_acknowledges_it(setup: Setup) -> None:
    s = setup
    form = s.form()
    assert (form["name"], form["version"], form["latest"]) == ("standard", 1, True)
    contact = recorded_call(s.contacts, s.recordings, "Q-1", "agent1")
    created = s.review("sup1", contact, "agent1", form["id"], GOOD, "政策答复准确，结束语完整")
    assert created.status_code == 201, created.text
    review = created.json()
    assert (review["total"], review["agent"], review["agent_name"], review["reviewer"],
            review["acknowledged_at"]) == (GOOD_TOTAL, "agent1", "王小丽", "sup1", None)
    assert [(c["title"], c["score"], c["max_score"]) for c in review["criteria"]] == [
        ("开场问候", 10, 10), ("政策解答准确性", 8, 10), ("服务态度", 9, 10), ("结束语", 5, 5)]

    # the agent reads it; another agent sees nothing of it
    mine = s.client.get("/api/v1/quality/reviews", headers=s.h["agent1"]).json()
    assert [(r["id"], r["comment"]) for r in mine] == [(review["id"], "政策答复准确，结束语完整")]
    assert s.client.get("/api/v1/quality/reviews", headers=s.h["agent2"]).json() == []
    url = f"/api/v1/quality/reviews/{review['id']}"
    other = s.client.get(url, headers=s.h["agent2"])
    assert (other.status_code, other.json()["detail"]) == (403, "只能查看本人通话的质检评分")
    asked = s.client.get("/api/v1/quality/reviews", params={"agent": "agent1"},
                         headers=s.h["agent2"])
    assert (asked.status_code, asked.json()["detail"]) == (403, "只能查看本人通话的质检评分")
    refused = s.client.post(f"{url}/ack", headers=s.h["agent2"])
    assert (refused.status_code, refused.json()["detail"]) == (
        403, "只有被评价的坐席本人可以确认评分")
    assert s.client.post(f"{url}/ack", headers=s.h["sup1"]).status_code == 403

    s.clock.advance(timedelta(minutes=5))
    acked = s.client.post(f"{url}/ack", headers=s.h["agent1"])
    assert acked.status_code == 200, acked.text
    assert datetime.fromisoformat(acked.json()["acknowledged_at"]) == s.clock()
    s.clock.advance(timedelta(minutes=1))  # a second acknowledgement keeps the first time
    assert s.client.post(f"{url}/ack", headers=s.h["agent1"]).json()["acknowledged_at"] == \
        acked.json()["acknowledged_at"]

    # the reviewer edits: a new total, the acknowledgement is asked for again
    edited = s.client.put(url, headers=s.h["sup1"],
                          json={"scores": {**GOOD, "attitude": 4}, "comment": "态度生硬"})
    assert edited.status_code == 200, edited.text
    assert (edited.json()["total"], edited.json()["acknowledged_at"]) == (74.0, None)
    assert s.client.put(url, headers=s.h["sup2"], json={"scores": GOOD}).json()["detail"] == \
        "只能修改本人作出的评分"
    # the supervisors' view of the contact: both reviews of a leg, by whoever made them
    listed = s.client.get("/api/v1/quality/reviews", params={"contact_id": contact},
                          headers=s.h["sup2"]).json()
    assert [(r["reviewer"], r["total"]) for r in listed] == [("sup1", 74.0)]

    users = UserService(s.db, SUITE_CLOCK)
    trail = [(a.action, a.actor, a.target) for a in users.audit_log(limit=50)
             if a.action.startswith("quality.")]
    assert trail == [("quality.review.update", "sup1", str(review["id"])),
                     ("quality.review.ack", "agent1", str(review["id"])),
                     ("quality.review.create", "sup1", str(review["id"])),
                     ("quality.form.save", "admin1", "standard@1")]
    update = users.audit_log(action="quality.review.update")[0]
    assert (update.detail["total_before"], update.detail["total"]) == (GOOD_TOTAL, 74.0)


def test_forms_are_versioned_and_old_reviews_keep_theirs(setup: Setup) -> None:
    s = setup
    v1 = s.form()
    assert s.form()["id"] == v1["id"]  # the same form saved again: no new version
    contact = recorded_call(s.contacts, s.recordings, "Q-2", "agent1", "expert1")
    first = s.review("sup1", contact, "agent1", v1["id"], GOOD).json()
    v2 = s.form([*STANDARD[:3], {"key": "closing", "title": "结束语", "max_score": 10,
                                 "weight": 15}])
    assert (v2["version"], v2["latest"]) == (2, True)
    # the old review keeps version 1's maximum for the closing
    old = s.client.get(f"/api/v1/quality/reviews/{first['id']}", headers=s.h["agent1"]).json()
    assert (old["form_version"], old["criteria"][3]["max_score"], old["total"]) == (
        1, 5, GOOD_TOTAL)
    # new reviews only on the newest version
    stale = s.review("sup1", contact, "expert1", v1["id"], GOOD)
    assert (stale.status_code, stale.json()["detail"]) == (
        409, "评分表“标准评分表”已有新版本，请刷新后按新版评分")
    # an edit of the old review is still checked against version 1 (closing out of 5)
    over = s.client.put(f"/api/v1/quality/reviews/{first['id']}", headers=s.h["sup1"],
                        json={"scores": {**GOOD, "closing": 6}})
    assert (over.status_code, over.json()["detail"]) == (422, "“结束语”的得分 6 超过满分 5")
    new = s.review("sup1", contact, "expert1", v2["id"], {**GOOD, "closing": 5})
    assert (new.status_code, new.json()["total"]) == (201, 81.5)
    listing = s.client.get("/api/v1/quality/forms", headers=s.h["sup1"]).json()
    assert [(f["name"], f["version"]) for f in listing] == [("standard", 2)]
    every = s.client.get("/api/v1/quality/forms", params={"all_versions": "true"},
                         headers=s.h["admin1"]).json()
    assert [(f["version"], f["latest"]) for f in every] == [(2, True), (1, False)]


def test_refusals_are_4xx_with_reasons(setup: Setup) -> None:
    s = setup
    form = s.form()
    fid = form["id"]
    call = recorded_call(s.contacts, s.recordings, "Q-3", "agent1")
    none = recorded_call(s.contacts, s.recordings, "Q-4", "agent1", recording=None)
    gone = recorded_call(s.contacts, s.recordings, "Q-5", "agent1", recording="row")
    own = recorded_call(s.contacts, s.recordings, "Q-6", "sup1", "agent1")
    staff_refused = "坐席和专家不能评分：只有班长和管理员可以质检评分"
    cases: list[tuple[str, int, str, int, dict[str, Any], int, str]] = [
        ("sup1", none, "agent1", fid, GOOD, 409, "这通来电没有通话录音，无法评分"),
        ("sup1", gone, "agent1", fid, GOOD, 409, "这通来电没有通话录音，无法评分"),
        ("sup1", call, "agent1", fid, {**GOOD, "accuracy": 12}, 422,
         "“政策解答准确性”的得分 12 超过满分 10"),
        ("sup1", call, "agent1", fid, {"greeting": 10}, 422,
         "缺少评分项：政策解答准确性、服务态度、结束语"),
        ("agent1", call, "agent1", fid, GOOD, 403, staff_refused),
        ("expert1", call, "agent1", fid, GOOD, 403, staff_refused),
        ("sup1", own, "sup1", fid, GOOD, 403, "不能评价本人接听的通话"),
        ("sup1", own, "agent1", fid, GOOD, 403, "不能评价本人接听的通话"),
        ("sup1", call, "agent2", fid, GOOD, 422, "坐席 agent2 没有接听这通来电"),
        ("sup1", 999999, "agent1", fid, GOOD, 404, "来电 999999 不存在"),
        ("sup1", call, "agent1", 999999, GOOD, 404, "评分表 999999 不存在"),
    ]
    for who, contact, agent, form_id, scores, status, reason in cases:
        response = s.review(who, contact, agent, form_id, scores)
        assert (response.status_code, response.json()["detail"]) == (status, reason), (
            who, contact, agent)
    assert s.review("sup1", call, "agent1", fid, GOOD).status_code == 201
    twice = s.review("sup1", call, "agent1", fid, GOOD)
    assert (twice.status_code, twice.json()["detail"]) == (
        409, "您已评价过该坐席在这通来电中的服务，请修改原评分")
    assert s.review("sup2", call, "agent1", fid, GOOD).status_code == 201  # another reviewer
    # shapes the schema refuses: still a 422, never a 500
    for body in ({"contact_id": call, "agent": "agent1", "form_id": fid, "scores": "x"},
                 {"contact_id": 0, "agent": "agent1", "form_id": fid, "scores": GOOD},
                 {"contact_id": call, "agent": "agent1", "form_id": fid,
                  "scores": {**GOOD, "accuracy": 10**30}}):
        assert s.client.post("/api/v1/quality/reviews", headers=s.h["sup1"],
                             json=body).status_code == 422
    for missing in ("/api/v1/quality/reviews/999999", "/api/v1/quality/reviews/999999/ack"):
        method = s.client.post if missing.endswith("ack") else s.client.get
        answer = method(missing, headers=s.h["agent1"])
        assert (answer.status_code, answer.json()["detail"]) == (404, "评分 999999 不存在")

    # forms: only admins save them, and only sound ones
    assert s.client.put("/api/v1/quality/forms/standard", headers=s.h["sup1"], json={
        "title": "x", "criteria": STANDARD}).status_code == 403
    bad_forms: list[tuple[str, dict[str, Any], str]] = [
        ("standard", {"title": "标准", "criteria": []}, "评分表至少需要一个评分项"),
        ("standard", {"title": "标准", "criteria": [{**STANDARD[0], "weight": 0}]},
         "“开场问候”的权重须大于0且不超过100"),
        ("standard", {"title": "标准", "criteria": [{**STANDARD[0], "max_score": 0}]},
         "“开场问候”的满分须为1到100之间的整数"),
        ("standard", {"title": "标准", "criteria": [STANDARD[0], {**STANDARD[1],
                                                                "key": "greeting"}]},
         "评分项代码重复：greeting"),
        ("standard", {"title": "标准", "criteria": [{**STANDARD[0], "key": "开场"}]},
         "第1个评分项的代码须为小写字母开头的小写字母、数字或下划线"),
        ("Bad-Name", {"title": "标准", "criteria": STANDARD},
         "评分表代码须为小写字母开头的小写字母、数字或下划线（至多32个字符）"),
        ("standard", {"title": " ", "criteria": STANDARD}, "评分表名称不能为空，且至多64个字符"),
    ]
    for name, body, reason in bad_forms:
        response = s.client.put(f"/api/v1/quality/forms/{name}", headers=s.h["admin1"],
                                json=body)
        assert (response.status_code, response.json()["detail"]) == (422, reason), body
    assert s.client.put("/api/v1/quality/forms/standard", headers=s.h["admin1"], json={
        "title": "标准", "criteria": [{**STANDARD[0], "weight": "NaN"}]}).status_code == 422
    # none of the refused forms became a version
    assert [f["version"] for f in s.client.get(
        "/api/v1/quality/forms", headers=s.h["admin1"]).json()] == [1]
