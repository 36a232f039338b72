"""A publication reaches the knowledge base of another process over the real Redis bus
(callcenter/kb/notifier.py): an API worker in this process publishes an edit, a
`hotline serve` subprocess (another API worker on the same database and Redis prefix) serves
the new version on its next question, without a restart. So does `hotline kb import`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from callcenter.app import create_app
from callcenter.db import Database
from callcenter.migrate import upgrade
from callcenter.settings import Settings
from tests.callcenter.test_kb_cli import NEW_QUESTION, edited
from tests.callcenter.util import bearer, token_for
from tests.support import PORT_BASE, REDIS_URL, SUITE_CLOCK, serving, sqlite_url

PORT = PORT_BASE + 377
ENTRY = "iit.basic_deduction"
QUESTION = "个税起征点是多少"


def _search(base: str, auth: dict[str, str]) -> dict[str, object] | None:
    try:
        response = httpx.get(f"{base}/api/v1/kb/search", params={"q": QUESTION},
                             headers=auth, timeout=10)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def _wait_for_question(base: str, auth: dict[str, str], question: str, deadline: float,
                       log_path: Path) -> None:
    """Until the server's first result for QUESTION is ``question`` (or the deadline)."""
    after = None
    while time.monotonic() < deadline:
        after = _search(base, auth)
        if after and after["results"][0]["question"] == question:  # type: ignore[index]
            return
        time.sleep(0.2)
    raise AssertionError((after, log_path.read_text(errors="replace")[-3000:]))


def _env(url: str, prefix: str) -> dict[str, str]:
    """The environment of a `hotline` subprocess on the test's database and Redis prefix."""
    return {**os.environ, "HOTLINE_DATABASE_URL": url, "HOTLINE_REDIS_URL": REDIS_URL,
            "HOTLINE_REDIS_PREFIX": prefix, "HOTLINE_CLOCK_START": SUITE_CLOCK().isoformat(),
            "HOTLINE_SMS_SURVEY_ENABLED": "false"}


def _database(tmp_path: Path, *users: tuple[str, str]) -> tuple[str, list[dict[str, str]]]:
    """A migrated SQLite database with ``users`` (name, role): its URL and their headers."""
    url = sqlite_url(tmp_path)
    upgrade(url)
    db = Database(url)
    try:
        return url, [bearer(token_for(db, name, role)) for name, role in users]
    finally:
        db.dispose()


def test_a_publication_reaches_the_knowledge_base_of_another_process(
        tmp_path: Path, prefix: str) -> None:
    url, (editor, reviewer, agent) = _database(
        tmp_path, ("editor1", "editor"), ("reviewer1", "reviewer"), ("agent1", "agent"))
    env = _env(url, prefix)
    log_path = tmp_path / "worker-b.log"
    settings = Settings(database_url=url, ami_enabled=False, kb_enabled=True,
                        redis_url=REDIS_URL, redis_prefix=prefix)
    # worker B answers its health once started, its knowledge base loaded (no bridge runs:
    # "degraded" is its status)
    with serving(env, PORT, log_path, ready=lambda health: "checks" in health) as base, \
            TestClient(create_app(settings, SUITE_CLOCK),
                       base_url="https://testserver") as worker_a:
        deadline = time.monotonic() + 180
        before = _search(base, agent)
        assert before is not None
        old_question = worker_a.get(f"/api/v1/kb/entries/{ENTRY}",
                                    headers=editor).json()["fields"]["question"]
        assert before["results"][0] == {  # type: ignore[index]
            "id": ENTRY, "question": old_question,
            "score": before["results"][0]["score"]}  # type: ignore[index]
        new_question = "个人所得税的起征点（基本减除费用）是多少？"
        fields = worker_a.get(f"/api/v1/kb/entries/{ENTRY}", headers=editor).json()["fields"]
        draft = worker_a.post("/api/v1/kb/drafts", headers=editor, json={
            "entry_id": ENTRY, "fields": {**fields, "question": new_question}})
        assert draft.status_code == 201, draft.text
        published = worker_a.post(f"/api/v1/kb/drafts/{draft.json()['id']}/publish",
                                  headers=reviewer)
        assert published.status_code == 200, published.text
        assert published.json()["reloaded"] is False  # the bus carries it, to every worker
        _wait_for_question(base, agent, new_question, deadline, log_path)
        # this worker too, by the same message (Redis hands it back to its sender)
        while worker_a.app.state.kb_reloads.reloads == 0:  # type: ignore[attr-defined]
            assert time.monotonic() < deadline
            time.sleep(0.1)
        here = worker_a.get("/api/v1/kb/search", params={"q": QUESTION}, headers=agent)
        assert here.json()["results"][0]["question"] == new_question
    assert "knowledge base reloaded" in log_path.read_text(errors="replace")


def test_an_import_reaches_the_knowledge_base_of_a_running_server(
        tmp_path: Path, prefix: str) -> None:
    url, (agent,) = _database(tmp_path, ("agent1", "agent"))
    env = _env(url, prefix)
    log_path = tmp_path / "server.log"
    with serving(env, PORT, log_path, ready=lambda health: "checks" in health) as base:
        before = _search(base, agent)
        assert before is not None
        assert before["results"][0]["id"] == ENTRY  # type: ignore[index]
        assert before["results"][0]["question"] != NEW_QUESTION  # type: ignore[index]
        run = subprocess.run([str(Path(sys.executable).with_name("hotline")), "kb", "import",
                              str(edited(tmp_path)), "--actor", "editor1"], env=env,
                             capture_output=True, text=True, timeout=300, check=False)
        assert run.returncode == 0, run.stderr
        assert run.stdout.splitlines() == ["1 entry changed",
                                           "reload sent to 1 running process(es)"]
        _wait_for_question(base, agent, NEW_QUESTION, time.monotonic() + 180, log_path)
    assert "knowledge base reloaded" in log_path.read_text(errors="replace")
