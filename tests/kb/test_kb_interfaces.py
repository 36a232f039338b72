"""The fixed interfaces: `hotline kb search --jsonl` and `GET /kb/search`. The command reads
the data files here (`--files`: the same answers whatever a local database holds); its default,
the database's live base, is tests/callcenter/test_kb_cli.py's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient

from callcenter.app import validation_error
from callcenter.kb.http import router
from knowledge_base import KnowledgeBase


def hotline(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `hotline` command of this virtualenv; it must succeed."""
    run = subprocess.run(
        [str(Path(sys.executable).with_name("hotline")), *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return run


def test_cli_jsonl_round_trip() -> None:
    lines = ["个税起征点是多少", "", "明天北京会下雨吗", "转人工", "小规模纳税人增值税"]
    run = hotline("kb", "search", "--files", "--top", "2", "--jsonl",
                  stdin="\n".join(lines) + "\n")
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["query"] for r in records] == lines
    assert all(set(r) == {"query", "decision", "results"} for r in records)
    assert "个税起征点" in run.stdout  # ensure_ascii=False
    assert records[0]["decision"] == "answer"
    first = records[0]["results"]
    assert len(first) == 2  # --top 2: the answer first, then the next ranked entry
    assert first[0]["id"] == "iit.basic_deduction"
    assert set(first[0]) == {"id", "score", "question"}
    assert isinstance(first[0]["score"], float)
    assert records[1] == {"query": "", "decision": "decline", "results": []}
    assert records[2]["decision"] == "decline"
    assert records[2]["results"] == []
    assert records[3]["decision"] == "answer"
    assert records[3]["results"][0]["id"] == "hotline.human_agent"
    assert records[4]["decision"] == "confirm"  # vague: two close candidates to offer
    assert len(records[4]["results"]) == 2
    assert records[4]["results"][0]["score"] >= records[4]["results"][1]["score"]


def test_cli_prints_the_decision_for_people() -> None:
    lines = hotline("kb", "search", "--files", "个税起征点是多少",
                    "明天北京会下雨吗").stdout.splitlines()
    assert lines[0] == "个税起征点是多少  -> answer（直接答复）"
    assert "iit.basic_deduction" in lines[1]
    assert lines[-1] == "明天北京会下雨吗  -> decline（知识库无法答复，建议转人工）"


@pytest.fixture(scope="module")
def client(kb: KnowledgeBase) -> TestClient:
    app = FastAPI()
    app.state.knowledge_base = kb
    app.include_router(router, prefix="/api/v1")
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    return TestClient(app)


def test_http_search(client: TestClient) -> None:
    response = client.get("/api/v1/kb/search", params={"q": "个税起征点是多少", "top": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["query"] == "个税起征点是多少"
    assert body["decision"] == "answer"
    assert body["results"][0]["id"] == "iit.basic_deduction"
    assert len(body["results"]) == 2
    assert set(body["results"][0]) == {"id", "score", "question"}


def test_http_confirm_gives_the_candidates_of_the_cli_and_the_ivr(
    client: TestClient, kb: KnowledgeBase
) -> None:
    response = client.get("/api/v1/kb/search", params={"q": "小规模纳税人增值税"})
    assert response.status_code == 200
    body = response.json()
    assert body == kb.decide("小规模纳税人增值税", top=3).to_dict()  # one decision
    assert body["decision"] == "confirm"
    assert len(body["results"]) == 2


def test_http_declines_with_empty_results(client: TestClient) -> None:
    response = client.get("/api/v1/kb/search", params={"q": "周末去哪里看电影"})
    assert response.status_code == 200
    assert response.json() == {"query": "周末去哪里看电影", "decision": "decline", "results": []}


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
    body = response.json()  # the shape of every 422 of the API (callcenter/openapi.py)
    assert isinstance(body["detail"], str)
    assert field in body["detail"]
    assert body["errors"][0]["loc"] == ["query", field]
    assert body["errors"][0]["msg"]


def test_http_without_knowledge_base_is_unavailable() -> None:
    app = FastAPI()
    app.include_router(router, prefix="/api/v1")
    response = TestClient(app).get("/api/v1/kb/search", params={"q": "增值税"})
    assert response.status_code == 503
