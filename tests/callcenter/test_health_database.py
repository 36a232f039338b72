"""The health report's database check: 200 while the database answers, 503 with the reason
when it fails or does not answer within ``health_db_timeout_s``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from callcenter.app import create_app
from callcenter.db import Database
from callcenter.deps import get_database, get_settings_dep
from callcenter.settings import Settings
from tests.support import SUITE_CLOCK


class _Stalled:
    """A database that answers after ``delay`` s, or refuses with ``error``."""

    def __init__(self, real: Database, delay: float = 0.0, error: str | None = None) -> None:
        self.engine = real.engine
        self.delay = delay
        self.error = error

    def ping(self) -> None:
        time.sleep(self.delay)
        if self.error is not None:
            raise OSError(self.error)


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    # the suite's own timeout (tests/conftest.py): a loaded machine's database is slow, not down
    app = create_app(Settings(database_url=db_url, ami_enabled=False, kb_enabled=False),
                     SUITE_CLOCK)
    with TestClient(app) as test_client:
        yield test_client


def health(client: TestClient, db: Any | None = None, timeout_s: float | None = None
           ) -> tuple[int, dict[str, Any]]:
    app: Any = client.app
    if db is not None:
        app.dependency_overrides[get_database] = lambda: db
    if timeout_s is not None:
        settings = app.state.settings.model_copy(update={"health_db_timeout_s": timeout_s})
        app.dependency_overrides[get_settings_dep] = lambda: settings
    try:
        response = client.get("/api/v1/health")
    finally:
        app.dependency_overrides.clear()
    return response.status_code, response.json()


def test_a_database_that_answers_is_ok(client: TestClient, db_url: str) -> None:
    status, body = health(client)
    assert status == 200, body
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {"ok": True, "backend": db_url.split(":")[0]
                                          .split("+")[0]}


def test_a_database_slower_than_the_timeout_is_reported_down(client: TestClient) -> None:
    app: Any = client.app
    status, body = health(client, _Stalled(app.state.db, delay=1.5), timeout_s=0.5)
    assert status == 503, body
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == {"ok": False, "error": "no answer within 0.5 s"}
    # within it, a slow answer is an answer
    status, body = health(client, _Stalled(app.state.db, delay=0.5), timeout_s=20)
    assert status == 200, body


def test_a_database_that_refuses_is_reported_down_with_its_words(client: TestClient) -> None:
    app: Any = client.app
    status, body = health(client, _Stalled(app.state.db, error="connection refused"))
    assert status == 503, body
    assert body["checks"]["database"] == {"ok": False, "error": "connection refused"}
