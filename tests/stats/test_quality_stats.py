"""Quality scores in the statistics and the exports, on a seeded set of reviews (SQLite and
PostgreSQL): per agent (by name) and per day, by when the reviewed call was made."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import delete

from callcenter.app import create_app
from callcenter.auth.models import Role
from callcenter.auth.services import AuthUser, UserService
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.quality.models import Review, ReviewForm
from callcenter.quality.services import QualityService
from callcenter.recordings.models import Recording
from callcenter.recordings.services import RecordingService
from callcenter.settings import Settings
from callcenter.stats.services import StatsService
from ivr.clock import FixedClock
from ivr.ports import EventKind
from tests.callcenter.test_recordings import write_wav
from tests.callcenter.util import bearer, ensure_user, token_for
from tests.stats.conftest import REPORT_CLOCK, local, play
from tests.support import SUITE_CLOCK

# accuracy out of 10, weight 3; attitude out of 5, weight 1
FORM = [{"key": "accuracy", "title": "政策解答准确性", "max_score": 10, "weight": 3},
        {"key": "attitude", "title": "服务态度", "max_score": 5, "weight": 1}]
NAMES = {"qa-a": "张三", "qa-b": "李四"}


def _user(db: Database, username: str, role: str, name: str = "") -> AuthUser:
    ensure_user(db, username, role)
    return UserService(db, SUITE_CLOCK).update_user(username, actor="test", display_name=name)


def _call(contacts: ContactService, recordings: RecordingService, linkedid: str,
          at: datetime, agent: str) -> int:
    play(contacts, linkedid, at, [
        (0, EventKind.CALL_STARTED, {"caller": "13800003333", "channel": "PJSIP/x"}),
        (5, EventKind.AGENT_CONNECTED, {"agent": agent, "queue": "consult"}),
        (90, EventKind.CALL_ENDED, {"cause": 16})])
    write_wav(recordings.store / f"call-{linkedid}.wav", 0.1)
    recordings.register(linkedid, "call", f"call-{linkedid}.wav", "consult", at=at)
    contact = contacts.get_by_linkedid(linkedid)
    assert contact is not None
    return contact.id


@pytest.fixture
def seeded(database: Database, contacts: ContactService, tmp_path: Path) -> None:
    """Five reviews: four of calls on 26 and 27 November (Shanghai), one of the 28th."""
    with database.transaction() as session:
        for table in (Review, ReviewForm, Recording):
            session.execute(delete(table))
    clock = FixedClock(REPORT_CLOCK())
    recordings = RecordingService(database, tmp_path, clock, retention_days=3650)
    quality = QualityService(database, clock, recordings, contacts)
    agents = {u: _user(database, u, "agent", n) for u, n in NAMES.items()}
    sup_x = _user(database, "qa-sup-x", "supervisor", "赵班长")
    sup_y = _user(database, "qa-sup-y", "supervisor")
    form = quality.save_form("standard", "标准", FORM, actor="test")
    seed = [  # call, at, agent, reviewer, accuracy, attitude, acknowledged -> total
        ("QS-1", "2026-11-26 09:00:00", "qa-a", sup_x, 10, 5, True),    # 100.0
        ("QS-2", "2026-11-26 10:00:00", "qa-b", sup_x, 5, 5, False),    # 62.5
        ("QS-3", "2026-11-27 09:00:00", "qa-a", sup_x, 8, 4, True),     # 80.0
        ("QS-3", "2026-11-27 09:00:00", "qa-a", sup_y, 6, 2, False),    # 55.0
        ("QS-4", "2026-11-28 09:00:00", "qa-a", sup_x, 0, 0, False),    # out of the range
    ]
    ids: dict[str, int] = {}
    for linkedid, at, agent, reviewer, accuracy, attitude, acked in seed:
        if linkedid not in ids:
            ids[linkedid] = _call(contacts, recordings, linkedid, local(at), agent)
        review = quality.create_review(reviewer, contact_id=ids[linkedid], agent=agent,
                                       form_id=form.id,
                                       scores={"accuracy": accuracy, "attitude": attitude})
        if acked:
            quality.acknowledge(agents[agent], review.id)


EXPECTED_AGENTS = [  # sorted by name: 张 (U+5F20) before 李 (U+674E)
    {"agent": "qa-a", "agent_name": "张三", "reviews": 3, "avg_score": 78.3, "min_score": 55.0,
     "max_score": 100.0, "acknowledged": 2, "ack_rate": 0.6667,
     "criteria": {"政策解答准确性": 80.0, "服务态度": 73.3}},
    {"agent": "qa-b", "agent_name": "李四", "reviews": 1, "avg_score": 62.5, "min_score": 62.5,
     "max_score": 62.5, "acknowledged": 0, "ack_rate": 0.0,
     "criteria": {"政策解答准确性": 50.0, "服务态度": 100.0}},
]


@pytest.mark.usefixtures("seeded")
def test_scores_per_agent_and_day(stats: StatsService) -> None:
    report = stats.quality(stats.range("2026-11-26", "2026-11-27", "day"))
    assert report["agents"] == EXPECTED_AGENTS
    assert report["total"] == {"reviews": 4, "avg_score": 74.4, "min_score": 55.0,
                               "max_score": 100.0, "acknowledged": 2, "ack_rate": 0.5,
                               "criteria": {"政策解答准确性": 72.5, "服务态度": 80.0}}
    assert [(r["start"][:10], r["agent_name"], r["reviews"], r["avg_score"], r["acknowledged"])
            for r in report["series"]] == [
        ("2026-11-26", "张三", 1, 100.0, 1), ("2026-11-26", "李四", 1, 62.5, 0),
        ("2026-11-27", "张三", 2, 67.5, 1)]
    # by month: the 28th's review joins, the figures are the same sums
    month = stats.quality(stats.range("2026-11-01", "2026-11-30", "month"))
    assert [(r["agent_name"], r["reviews"], r["min_score"]) for r in month["series"]] == [
        ("张三", 4, 0.0), ("李四", 1, 62.5)]
    empty = stats.quality(stats.range("2026-10-01", "2026-10-31", "day"))
    assert (empty["agents"], empty["series"], empty["total"]["avg_score"]) == ([], [], None)


@pytest.mark.usefixtures("seeded")
def test_the_quality_report_and_its_exports_over_http(db_url: str, database: Database,
                                                      stats: StatsService) -> None:
    settings = Settings(database_url=db_url, ami_enabled=False, kb_enabled=False)
    h = bearer(token_for(database, "qa-sup-x", Role.SUPERVISOR))
    day = {"from": "2026-11-26", "to": "2026-11-27", "interval": "day"}
    with TestClient(create_app(settings, SUITE_CLOCK), base_url="https://testserver") as client:
        report = client.get("/api/v1/stats/quality", params=day, headers=h)
        assert report.status_code == 200, report.text
        assert report.json()["agents"] == EXPECTED_AGENTS
        sms = client.get("/api/v1/stats/quality", params={**day, "channel": "sms"}, headers=h)
        assert sms.status_code == 422
        assert "只统计电话" in sms.json()["detail"]
        agent = bearer(token_for(database, "qa-a", Role.AGENT))
        assert client.get("/api/v1/stats/quality", params=day, headers=agent).status_code == 403
        csv_answer = client.get("/api/v1/stats/export", headers=h,
                                params={**day, "report": "quality", "format": "csv"})
        xlsx_answer = client.get("/api/v1/stats/export", headers=h,
                                 params={**day, "report": "quality", "format": "xlsx"})
    assert csv_answer.status_code == 200, csv_answer.text
    assert "12366-quality-phone-" in csv_answer.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(csv_answer.text.lstrip("\ufeff"))))
    assert rows[0] == ["时段开始", "坐席", "坐席姓名", "质检评分数", "平均质检得分",
                       "最低质检得分", "最高质检得分", "坐席已确认数", "确认率",
                       "各评分项平均得分率(%)"]
    assert [r[:9] for r in rows[1:]] == [
        ["2026-11-26T00:00:00+08:00", "qa-a", "张三", "1", "100.0", "100.0", "100.0", "1",
         "1.0"],
        ["2026-11-26T00:00:00+08:00", "qa-b", "李四", "1", "62.5", "62.5", "62.5", "0", "0.0"],
        ["2026-11-27T00:00:00+08:00", "qa-a", "张三", "2", "67.5", "55.0", "80.0", "1", "0.5"]]
    assert rows[3][9] == "政策解答准确性=70.0; 服务态度=60.0"
    assert xlsx_answer.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx_answer.content)).active
    assert sheet is not None
    assert sheet.title == "质检评分"
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[0][2] == "坐席姓名"
    assert [(r[2], r[3], r[4]) for r in cells[1:]] == [("张三", 1, 100.0), ("李四", 1, 62.5),
                                                       ("张三", 2, 67.5)]
