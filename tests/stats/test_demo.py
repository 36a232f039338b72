"""``hotline demo seed``: the generated history has the documented shape."""

from __future__ import annotations

from collections import Counter
from datetime import date
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from callcenter.contacts.models import Contact
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.stats.demo import AUTOMATIC_VOICE, MANUAL, seed
from callcenter.stats.services import StatsService
from tests.stats.conftest import REPORT_CLOCK

TZ = ZoneInfo("Asia/Shanghai")


def test_seeded_history_has_the_provinces_ratio_and_a_working_day_shape(
        database: Database, contacts: ContactService, stats: StatsService) -> None:
    result = seed(database, 6000, clock=REPORT_CLOCK, days=60, end=date(2026, 3, 31), rng_seed=7,
                  agents=12)
    assert result.contacts == 6000
    stats.rebuild()
    total = stats.summary(stats.range("2026-01-01", "2026-03-31", "month"))["total"]
    assert total["contacts"] == 6000
    assert total["manual"] + total["automatic_voice"] + total["other"] == 6000
    # automatic voice : manual within 5 % of the province's 156,763 : 120,143
    assert total["automatic_voice"] / total["manual"] == pytest.approx(
        AUTOMATIC_VOICE / MANUAL, rel=0.05)
    with database.session() as session:
        starts = [s.astimezone(TZ) for s in session.scalars(
            select(Contact.started_at).where(Contact.linkedid.like("demo-%")))]
        agents = set(session.scalars(select(Contact.agent).where(Contact.agent.is_not(None))))
    assert len(agents) == 12
    per_half_hour = Counter((s.hour * 60 + s.minute) // 30 for s in starts)
    morning = per_half_hour[20] + per_half_hour[21]  # 10:00-11:00
    lunch = per_half_hour[24] + per_half_hour[25]    # 12:00-13:00
    night = per_half_hour[6] + per_half_hour[7]      # 03:00-04:00
    assert lunch < 0.7 * morning
    assert night < 0.2 * lunch
    weekdays = Counter(s.weekday() for s in starts)
    assert weekdays[5] < 0.6 * weekdays[2]
    # the monthly filing period: days 10-15 busier than days 20-25
    days = Counter(s.day for s in starts)
    assert sum(days[d] for d in range(10, 16)) > 1.2 * sum(days[d] for d in range(20, 26))
    # no manual contact outside the agents' hours
    with database.session() as session:
        manual = [s.astimezone(TZ) for s in session.scalars(
            select(Contact.started_at).where(Contact.outcome == "answered"))]
    assert all(m.weekday() < 5 and (8.5 <= m.hour + m.minute / 60 < 17.5) for m in manual)


def test_seed_refuses_nonsense(database: Database, contacts: ContactService) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        seed(database, 0, clock=REPORT_CLOCK)
    with pytest.raises(ValueError, match="other-share"):
        seed(database, 10, clock=REPORT_CLOCK, other_share=1.5)


def test_stats_cli_summary_and_its_errors(db_url: str, contacts: ContactService,
                                          stats: StatsService,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from callcenter.cli import command_line
    from callcenter.settings import get_settings
    from tests.stats.test_reports import build_day

    build_day(contacts)
    monkeypatch.setenv("HOTLINE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        ok = runner.invoke(command_line(), ["stats", "summary", "--from", "2026-11-27", "--to",
                                 "2026-11-27"])
        assert ok.exit_code == 0, ok.output
        assert json.loads(ok.output)["total"]["contacts"] == 10
        bad = runner.invoke(command_line(), ["stats", "summary", "--from", "2026-11-28", "--to",
                                  "2026-11-27"])
        assert bad.exit_code == 2
        assert "“from”须早于“to”" in bad.output
        texts = runner.invoke(command_line(), ["stats", "summary", "--from", "2026-11-27", "--to",
                                    "2026-11-27", "--channel", "sms"])
        assert texts.exit_code == 0, texts.output
        report = json.loads(texts.output)
        assert (report["channel"], report["total"]["contacts"]) == ("sms", 0)
        assert report["channels"]["phone"]["contacts"] == 10
        unknown = runner.invoke(command_line(), ["stats", "summary", "--from", "2026-11-27", "--to",
                                      "2026-11-27", "--channel", "fax"])
        assert unknown.exit_code == 2
        assert "未知的渠道" in unknown.output
    finally:
        get_settings.cache_clear()
