"""The service calendar's coverage in the health report and the start-up log, at an injected
moment: a warning while the current or the next year has no holidays listed."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from callcenter.app import create_app
from callcenter.settings import PROJECT_ROOT, Settings
from ivr.clock import FixedClock

SHIPPED = PROJECT_ROOT / "ivr" / "hours.yaml"
MID_2026 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
# 2026-12-31 23:59:30 in Beijing: still 2026 there
NEW_YEARS_EVE = datetime(2026, 12, 31, 15, 59, 30, tzinfo=UTC)
LOGGER = "callcenter.health.calendar"


def health_at(db_url: str, hours_file: Path, moment: datetime,
              caplog: pytest.LogCaptureFixture) -> tuple[dict[str, Any], list[str]]:
    """The health report of an app started with ``hours_file`` and its clock at ``moment``,
    and what the calendar check logged at start-up."""
    settings = Settings(database_url=db_url, ami_enabled=False, kb_enabled=False,
                        stats_wallboard_interval_s=0, hours_file=hours_file)
    app = create_app(settings, FixedClock(moment))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER), TestClient(app) as client:
        response = client.get("/api/v1/health")
    assert response.status_code == 200
    logged = [f"{r.levelname} {r.getMessage()}" for r in caplog.records if r.name == LOGGER]
    return response.json(), logged


def with_2027(tmp_path: Path) -> Path:
    """The shipped calendar plus a (made-up, test-only) 2027 year."""
    shipped = SHIPPED.read_text(encoding="utf-8")
    assert shipped.count("\n# Further days") == 1
    path = tmp_path / "hours.yaml"
    path.write_text(shipped.replace(
        "\n# Further days", "  - year: 2027\n    notice: 测试用\n    holidays:\n"
        "      - {name: 元旦, from: 2027-01-01}\n\n# Further days"), encoding="utf-8")
    return path


def test_a_missing_next_year_is_warned_about(db_url: str,
                                            caplog: pytest.LogCaptureFixture) -> None:
    for moment in (MID_2026, NEW_YEARS_EVE):
        body, logged = health_at(db_url, SHIPPED, moment, caplog)
        check = body["checks"]["calendar"]
        assert check["ok"] is False
        assert check["years"] == [2026]
        assert check["missing_years"] == [2027]
        assert "国务院办公厅关于2026年部分节假日安排的通知" in check["notices"]["2026"]
        assert "no public holidays or make-up workdays for 2027" in check["warning"]
        assert body["warnings"] == [check["warning"]]
        assert body["status"] == "ok"  # a warning, not a failure
        assert len(logged) == 1
        assert logged[0].startswith(f"WARNING {check['warning']}")
        assert str(SHIPPED) in logged[0]


def test_no_warning_when_this_and_next_year_are_listed(
        db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    body, logged = health_at(db_url, with_2027(tmp_path), NEW_YEARS_EVE, caplog)
    check = body["checks"]["calendar"]
    assert check["ok"] is True
    assert (check["years"], check["missing_years"]) == ([2026, 2027], [])
    assert "warning" not in check
    assert body["warnings"] == []
    assert logged == []
    # one minute later it is 2027 in Beijing, and 2028 is missing
    body, logged = health_at(db_url, with_2027(tmp_path),
                             datetime(2026, 12, 31, 16, 0, 30, tzinfo=UTC), caplog)
    assert body["checks"]["calendar"]["missing_years"] == [2028]
    assert len(logged) == 1


def test_a_broken_calendar_is_reported(db_url: str, tmp_path: Path,
                                       caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "hours.yaml"
    path.write_text("hours: []\n", encoding="utf-8")
    body, logged = health_at(db_url, path, MID_2026, caplog)
    check = body["checks"]["calendar"]
    assert check["ok"] is False
    assert check["error"].startswith(f"{path}: hours: ")
    assert body["warnings"] == [check["error"]]
    assert logged == [f"ERROR service calendar: {check['error']}"]
