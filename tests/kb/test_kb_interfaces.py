"""The fixed interfaces: `hotline kb search --jsonl` and `GET /kb/search`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from callcenter.kb.http import router
from knowledge_base import KnowledgeBase


def test_cli_jsonl_round_trip() -> None:
    hotline = Path(sys.executable).with_name("hotline")
    lines = ["个税起征点是多少", "", "明天北京会下雨吗", "转人工"]
    run = subprocess.run(
        [str(hotline), "kb", "search", "--top", "2", "--jsonl"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["query"] for r in records] == lines
    assert "个税起征点" in run.stdout  # ensure_ascii=False
    first = records[0]["results"]
    assert 1 <= len(first) <= 2
    assert first[0]["id"] == "iit.basic_deduction"
    assert set(first[0]) == {"id", "score", "question"}
    assert isinstance(first[0]["score"], float)
    assert records[1]["results"] == []
    assert records[2]["results"] == []  # declined
    assert records[3]["results"][0]["id"] == "hotline.human_agent"


@pytest.fixture(scope="module")
def client(kb: KnowledgeBase) -> TestClient:
    app = FastAPI()
    app.state.knowledge_base = kb
    app.include_router(router, prefix="/api/v1")
    return TestClient(app)


def test_http_search(client: TestClient) -> None:
    response = client.get("/api/v1/kb/search", params={"q": "个税起征点是多少", "top": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["query"] == "个税起征点是多少"
    assert body["results"][0]["id"] == "iit.basic_deduction"
    assert len(body["results"]) <= 2
    assert set(body["results"][0]) == {"id", "score", "question"}


def test_http_declines_with_empty_results(client: TestClient) -> None:
    response = client.get("/api/v1/kb/search", params={"q": "周末去哪里看电影"})
    assert response.status_code == 200
    assert response.json() == {"query": "周末去哪里看电影", "results": []}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({}, "q"),
        ({"q": "增值税", "top": 0}, "top"),
        ({"q": "增值税", "top": 21}, "top"),
    ],
)
def test_http_rejects_bad_parameters(
    client: TestClient, params: dict[str, str | int], field: str
) -> None:
    response = client.get("/api/v1/kb/search", params=params)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["query", field]
    assert detail[0]["msg"]


def test_http_without_knowledge_base_is_unavailable() -> None:
    app = FastAPI()
    app.include_router(router, prefix="/api/v1")
    response = TestClient(app).get("/api/v1/kb/search", params={"q": "增值税"})
    assert response.status_code == 503
