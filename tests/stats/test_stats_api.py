"""``/api/v1/stats/*`` over HTTP: roles, bad input (4xx with a reason), CSV and XLSX exports."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from callcenter.app import create_app
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.settings import Settings
from callcenter.stats.services import StatsService
from ivr.ports import EventKind as E
from tests.callcenter.util import bearer, token_for
from tests.stats.conftest import local, play
from tests.stats.test_reports import build_day, end, start
from tests.support import SUITE_CLOCK

DAY = {"from": "2026-11-27", "to": "2026-11-27", "interval": "hour"}


@pytest.fixture
def client(db_url: str, stats: StatsService) -> Iterator[TestClient]:
    settings = Settings(database_url=db_url, ami_enabled=False, kb_enabled=False,
                        stats_wallboard_interval_s=0)
    with TestClient(create_app(settings, SUITE_CLOCK)) as test_client:
        yield test_client


@pytest.fixture
def supervisor(database: Database) -> dict[str, str]:
    return bearer(token_for(database, "stats-supervisor", "supervisor"))


def test_reports_need_a_supervisor(client: TestClient, database: Database) -> None:
    assert client.get("/api/v1/stats/summary", params=DAY).status_code == 401
    agent = bearer(token_for(database, "stats-agent", "agent"))
    response = client.get("/api/v1/stats/summary", params=DAY, headers=agent)
    assert response.status_code == 403
    assert "权限不足" in response.json()["detail"]
    admin = bearer(token_for(database, "stats-admin", "admin"))
    assert client.get("/api/v1/stats/live", headers=admin).status_code == 200
    assert client.get("/api/v1/stats/export", params=DAY, headers=agent).status_code == 403


def test_summary_and_reports_over_http(client: TestClient, contacts: ContactService,
                                       supervisor: dict[str, str]) -> None:
    build_day(contacts)
    body = client.get("/api/v1/stats/summary", params=DAY, headers=supervisor).json()
    assert body["timezone"] == "Asia/Shanghai"
    assert body["total"]["contacts"] == 10
    assert body["total"]["service_level"] == 0.6
    assert len(body["series"]) == 24
    for path in ("queues", "agents", "nodes", "faqs", "tickets"):
        response = client.get(f"/api/v1/stats/{path}", params=DAY, headers=supervisor)
        assert response.status_code == 200, (path, response.text)
    agents = client.get("/api/v1/stats/agents", params=DAY, headers=supervisor).json()
    assert {a["agent"]: a["handled"] for a in agents["agents"]} == {"agent1": 3, "agent2": 2}


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"from": "2026-11-28", "to": "2026-11-27"}, "“from”须早于“to”"),
        ({"to": "2026-11-27"}, "缺少“from”"),
        ({"from": "2026-11-27"}, "缺少“to”"),
        ({}, "缺少“from”"),
        ({"from": "2026-11-27", "to": "2026-11-27", "interval": "week"}, "未知的统计间隔"),
        ({"from": "2026-01-01", "to": "2026-12-31", "interval": "15min"}, "最多 31 天"),
        ({"from": "2000-01-01", "to": "2026-12-31", "interval": "month"}, "最多 3660 天"),
        ({"from": "2026-11-27T10:00:00", "to": "2026-11-28"}, "须带时区偏移"),
        ({"from": "2026-11-27T10:05:00+08:00", "to": "2026-11-28"}, "整刻钟"),
        ({"from": "'; drop table contacts; --", "to": "2026-11-28"}, "不是 ISO 8601"),
    ],
)
def test_bad_report_queries_get_422_with_a_reason(client: TestClient,
                                                  supervisor: dict[str, str],
                                                  params: dict[str, str], reason: str) -> None:
    for path in ("summary", "queues", "agents", "export"):
        response = client.get(f"/api/v1/stats/{path}", params=params, headers=supervisor)
        assert response.status_code == 422, (path, response.text)
        assert reason in response.json()["detail"]


def test_bad_export_parameters(client: TestClient, supervisor: dict[str, str]) -> None:
    response = client.get("/api/v1/stats/export", params={**DAY, "format": "pdf"},
                          headers=supervisor)
    assert response.status_code == 422
    assert "unknown format" in response.json()["detail"]
    response = client.get("/api/v1/stats/export", params={**DAY, "report": "salaries"},
                          headers=supervisor)
    assert response.status_code == 422
    assert "unknown report" in response.json()["detail"]
    response = client.get("/api/v1/stats/export", headers=supervisor, params={
        "from": "2026-10-01", "to": "2026-11-27", "interval": "day", "report": "contacts"})
    assert response.status_code == 422
    assert "最多 31 天" in response.json()["detail"]


def test_csv_export_has_chinese_headers_and_the_report_figures(
        client: TestClient, contacts: ContactService, supervisor: dict[str, str]) -> None:
    build_day(contacts)
    params = {"from": "2026-11-27", "to": "2026-11-28", "interval": "day"}
    response = client.get("/api/v1/stats/export", params={**params, "format": "csv"},
                          headers=supervisor)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [r["时段开始"] for r in rows] == ["2026-11-27T00:00:00+08:00",
                                         "2026-11-28T00:00:00+08:00"]
    assert rows[0]["来电总量"] == "10"
    assert rows[0]["自动语音服务量"] == "2"
    assert rows[0]["人工服务量"] == "4"
    assert rows[0]["服务水平"] == "0.6"
    assert rows[1]["服务水平"] == ""  # no data
    # the contacts themselves
    response = client.get("/api/v1/stats/export", headers=supervisor,
                          params={**params, "report": "contacts"})
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert lines[0][:3] == ["编号", "通话标识", "来电号码"]
    assert len(lines) == 1 + 11
    # the queue and the last menu node by their words, each followed by its id
    header = lines[0]
    assert header[6:8] == ["队列", "队列编号"]
    assert header[12:14] == ["最后节点", "最后节点编号"]
    assert {line[6] for line in lines[1:] if line[7] == "consult"} == {"综合咨询"}
    assert {line[12] for line in lines[1:] if line[13] == "main"} == {"主菜单"}


def test_contacts_export_says_each_contacts_direction(
        client: TestClient, contacts: ContactService, supervisor: dict[str, str]) -> None:
    """An inbound call and an outbound callback attempt: the 方向 column (呼入 / 外呼) before
    the channel, in CSV and XLSX."""
    at = local("2026-11-27 10:00:00")
    play(contacts, "D-in", at, [start(), (5, E.SELF_SERVICE, {"node": "faq", "service": "faq",
                                                              "detail": None}), end(10)])
    play(contacts, "D-out", at + timedelta(minutes=5), [
        (0, E.CALL_STARTED, {"caller": "13900000000", "channel": "PJSIP/agent1-1",
                             "direction": "outbound"}),
        (30, E.OUTCOME, {"outcome": "no_answer"}), end(31)])
    params = {"from": "2026-11-27", "to": "2026-11-27", "interval": "day", "report": "contacts"}
    response = client.get("/api/v1/stats/export", headers=supervisor, params=params)
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert lines[0][-2:] == ["方向", "渠道"]
    assert {line[1]: line[-2:] for line in lines[1:]} == {"D-in": ["呼入", "电话"],
                                                          "D-out": ["外呼", "电话"]}
    response = client.get("/api/v1/stats/export", headers=supervisor,
                          params={**params, "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(response.content), read_only=True)["来电明细"]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0][-2:] == ["方向", "渠道"]
    assert sorted(tuple(r[-2:]) for r in rows[1:]) == [("呼入", "电话"), ("外呼", "电话")]


def test_node_and_faq_exports_name_them_by_their_words(
        client: TestClient, contacts: ContactService, supervisor: dict[str, str]) -> None:
    build_day(contacts)
    params = {"from": "2026-11-27", "to": "2026-11-27", "interval": "day"}
    response = client.get("/api/v1/stats/export", headers=supervisor,
                          params={**params, "report": "nodes"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert list(rows[0])[:3] == ["时段开始", "菜单节点", "节点编号"]
    main = next(r for r in rows if r["节点编号"] == "main")
    assert (main["菜单节点"], main["进入次数"]) == ("主菜单", "2")
    response = client.get("/api/v1/stats/export", headers=supervisor,
                          params={**params, "report": "faqs", "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(response.content), read_only=True)["知识条目"]
    table = list(sheet.iter_rows(values_only=True))
    assert list(table[0])[:3] == ["时段开始", "知识条目", "条目编号"]
    law = next(r for r in table[1:] if r[2] == "vat.law.effective_date")
    assert law[1] == "增值税法什么时候开始施行？"
    # and the API's reports carry the words beside the ids
    nodes = client.get("/api/v1/stats/nodes", headers=supervisor, params=params).json()
    assert {n["node"]: n["label"] for n in nodes["items"]}["welcome"] == "欢迎语"
    faqs = client.get("/api/v1/stats/faqs", headers=supervisor, params=params).json()
    assert {f["faq_id"]: f["question"] for f in faqs["items"]}["vat.rate"] == "vat.rate"


def test_xlsx_export(client: TestClient, contacts: ContactService,
                     supervisor: dict[str, str]) -> None:
    build_day(contacts)
    response = client.get("/api/v1/stats/export", headers=supervisor, params={
        "from": "2026-11-27", "to": "2026-11-27", "interval": "day", "report": "queues",
        "format": "xlsx"})
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    sheet = book["队列"]
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    assert header[:4] == ["时段开始", "队列", "队列编号", "进入队列量"]
    consult = next(r for r in rows[1:] if r[2] == "consult")
    assert consult[1] == "综合咨询"
    assert consult[header.index("进入队列量")] == 6
    assert consult[header.index("人工接通量")] == 4
    assert consult[header.index("服务水平")] == 0.6


def test_pages_are_served_offline(client: TestClient) -> None:
    for page in ("/stats/dashboard", "/stats/wallboard"):
        response = client.get(page)
        assert response.status_code == 200
        assert "text/html" in response.headers["content-type"]
        assert "/stats/static/echarts.min.js" in response.text
        assert "http://" not in response.text
        assert "https://" not in response.text
    assert client.get("/stats/static/echarts.min.js").status_code == 200
    assert client.get("/stats/static/dashboard-quality.js").status_code == 200
    assert client.get("/stats/static/..%2Fhttp.py").status_code == 404
