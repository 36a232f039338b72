"""The service calendar: the shipped 2026 holidays walked day by day against the State Council's
notice, make-up workday hours, coverage warnings, and the hours file's errors."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from ivr.calendar import UNNAMED_HOLIDAY, CalendarError, OpeningHours, ServiceCalendar

# 《国务院办公厅关于2026年部分节假日安排的通知》(国务院办公厅, 2025-11-04), its table as published;
# the test reads the dates from this text, independently of ivr/hours.yaml.
NOTICE_2026 = """
一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。
二、春节：2月15日（周日）至23日（周一）放假调休，共9天。2月14日（周六）、2月28日（周六）上班。
三、清明节：4月4日（周六）至6日（周一）放假，共3天。
四、劳动节：5月1日（周五）至5日（周二）放假调休，共5天。5月9日（周六）上班。
五、端午节：6月19日（周五）至21日（周日）放假，共3天。
六、中秋节：9月25日（周五）至27日（周日）放假，共3天。
七、国庆节：10月1日（周四）至7日（周三）放假调休，共7天。9月20日（周日）、10月10日（周六）上班。
"""

WEEKDAYS = "一二三四五六日"  # 周一 .. 周日, ISO 1..7
_LINE = re.compile(r"^[一二三四五六七八九十]+、(?P<name>[^：]+)："
                   r"(?P<m1>\d+)月(?P<d1>\d+)日（周(?P<w1>.)）"
                   r"至(?:(?P<m2>\d+)月)?(?P<d2>\d+)日（周(?P<w2>.)）"
                   r"放假(?:调休)?，共(?P<days>\d+)天。(?P<rest>.*)$")
_WORKDAY = re.compile(r"(\d+)月(\d+)日（周(.)）")


def _day(year: int, month: str, day: str, weekday: str) -> date:
    found = date(year, int(month), int(day))
    assert found.isoweekday() == WEEKDAYS.index(weekday) + 1, f"{found} is not 周{weekday}"
    return found


def notice_table(text: str, year: int) -> tuple[dict[date, str], dict[date, str]]:
    """(holiday -> name, make-up workday -> name) of a notice's text; the weekday in brackets
    and the count of days are checked against the dates, so a misread line fails here."""
    holidays: dict[date, str] = {}
    workdays: dict[date, str] = {}
    for line in text.strip().splitlines():
        match = _LINE.match(line)
        assert match is not None, f"unreadable notice line: {line}"
        name = match["name"]
        first = _day(year, match["m1"], match["d1"], match["w1"])
        last = _day(year, match["m2"] or match["m1"], match["d2"], match["w2"])
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        assert len(days) == int(match["days"]), line
        holidays.update(dict.fromkeys(days, name))
        rest = match["rest"]
        assert rest == "" or rest.endswith("上班。"), line
        for month, day, weekday in _WORKDAY.findall(rest):
            workdays[_day(year, month, day, weekday)] = name
    return holidays, workdays


def beijing(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


def test_the_notice_table_reads_as_published() -> None:
    holidays, workdays = notice_table(NOTICE_2026, 2026)
    assert len(holidays) == 3 + 9 + 3 + 5 + 3 + 3 + 7
    assert sorted(workdays) == [date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28),
                                date(2026, 5, 9), date(2026, 9, 20), date(2026, 10, 10)]
    with pytest.raises(AssertionError, match="is not 周五"):
        notice_table("三、清明节：4月4日（周五）至6日（周一）放假，共3天。", 2026)


def test_every_day_of_2026_against_the_notice() -> None:
    calendar = ServiceCalendar.load()
    holidays, workdays = notice_table(NOTICE_2026, 2026)
    day, counts = date(2026, 1, 1), {"working": 0, "holiday": 0, "make_up": 0, "weekend": 0}
    while day.year == 2026:
        if day in workdays:
            expected, notes, kind = True, {"make_up_workday": workdays[day]}, "make_up"
        elif day in holidays:
            expected, notes, kind = False, {"holiday": holidays[day]}, "holiday"
        elif day.isoweekday() >= 6:
            expected, notes, kind = False, {}, "weekend"
        else:
            expected, notes, kind = True, {}, "working"
        counts[kind] += 1
        assert calendar.is_working_day(day) is expected, f"{day} ({kind})"
        assert calendar.day_notes(day) == notes, day
        # 10:00 is within the hours of every working day, make-up workdays included
        assert calendar.is_open(beijing(day, 10)) is expected, day
        day += timedelta(days=1)
    assert calendar.holidays == frozenset(holidays)
    assert calendar.workdays == frozenset(workdays)
    # 2026: 365 days, 104 weekend days of which 14 fall in holidays, 6 of them worked
    assert counts == {"working": 365 - 104 - 19, "holiday": 33, "make_up": 6,
                      "weekend": 104 - 14 - 6}
    assert "国务院办公厅关于2026年部分节假日安排的通知" in calendar.notices[2026]


def test_a_make_up_workday_keeps_the_weekday_hours() -> None:
    calendar = ServiceCalendar.load()
    saturday = date(2026, 2, 14)
    assert not calendar.is_open(beijing(saturday, 8, 29))
    assert calendar.is_open(beijing(saturday, 8, 30))
    assert calendar.is_open(beijing(saturday, 17, 29))
    assert not calendar.is_open(beijing(saturday, 17, 30))
    # shorter Monday hours: a make-up workday keeps the hours of workday_hours_of
    hours = (OpeningHours((1,), time(9), time(12)), OpeningHours((2, 3, 4, 5), time(8), time(18)))
    monday_like = ServiceCalendar(hours, workdays=frozenset({saturday}))
    assert not monday_like.is_open(beijing(saturday, 13))
    assert monday_like.is_open(beijing(saturday, 11))
    tuesday_like = ServiceCalendar(hours, workdays=frozenset({saturday}), workday_hours_of=2)
    assert tuesday_like.is_open(beijing(saturday, 13))
    with pytest.raises(CalendarError, match="workday_hours_of: weekday 6 has no hours"):
        ServiceCalendar(hours, workday_hours_of=6)


def test_missing_years_and_the_coverage_warning() -> None:
    calendar = ServiceCalendar.load()
    assert calendar.years == frozenset({2026})
    assert calendar.missing_years(date(2026, 6, 1)) == [2027]
    assert calendar.missing_years(date(2025, 12, 31)) == [2025]
    assert calendar.missing_years(date(2028, 1, 1)) == [2028, 2029]
    # in the calendar's time zone: 2026-12-31 23:59:30 Beijing is still 2026
    end_of_year = datetime(2026, 12, 31, 15, 59, 30, tzinfo=UTC)
    warning = calendar.coverage_warning(end_of_year)
    assert warning is not None
    assert "for 2027:" in warning
    # 2025-12-31 16:30 UTC is already 2026-01-01 in Beijing
    assert "for 2027:" in (calendar.coverage_warning(datetime(2025, 12, 31, 16, 30,
                                                              tzinfo=UTC)) or "")
    assert "for 2025:" in (calendar.coverage_warning(datetime(2025, 12, 31, 15, 30,
                                                              tzinfo=UTC)) or "")
    assert "for 2028 and 2029:" in (calendar.coverage_warning(datetime(2028, 3, 1,
                                                                       tzinfo=UTC)) or "")
    both = ServiceCalendar(calendar.hours, calendar.holidays | {date(2027, 1, 1)},
                           calendar.workdays)
    assert both.missing_years(date(2026, 6, 1)) == []
    assert both.coverage_warning(end_of_year) is None
    assert both.day_notes(date(2027, 1, 1)) == {"holiday": UNNAMED_HOLIDAY}


HOURS = "hours:\n  - days: [1, 2, 3, 4, 5]\n    open: '08:30'\n    close: '17:30'\n"


def _year(holidays: str, year: int = 2026) -> str:
    return (f"public_holidays:\n  - year: {year}\n    notice: 通知\n    holidays:\n"
            + "".join(f"      - {h}\n" for h in holidays.split(";")))


def test_the_older_flat_format_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "hours.yaml"
    path.write_text(HOURS + "holidays: [2026-10-01]\nworkdays: [2026-10-10]\n",
                    encoding="utf-8")
    calendar = ServiceCalendar.load(path)
    assert calendar.holidays == {date(2026, 10, 1)}
    assert calendar.day_notes(date(2026, 10, 10)) == {"make_up_workday": UNNAMED_HOLIDAY}
    assert calendar.is_open(beijing(date(2026, 10, 10), 10))


@pytest.mark.parametrize(("text", "message"), [
    (_year("{name: 春节, from: 2026-02-23, to: 2026-02-15}"),
     "public_holidays.0.holidays.0: Value error, 春节: 'to' (2026-02-15) is before 'from'"),
    (_year("{name: 春节, from: 2026-02-15, to: 2026-02-23, workdays: [2026-02-16]}"),
     "public_holidays.0.holidays.0.workdays: 2026-02-16 is listed twice (春节, 春节)"),
    (_year("{name: 元旦, from: 2026-01-01};{name: 元旦2, from: 2026-01-01}"),
     "public_holidays.0.holidays.1: 2026-01-01 is listed twice (元旦, 元旦2)"),
    (_year("{name: 国庆节, from: 2062-10-01}"), "2062-10-01 is outside the notice's year 2026"),
    (_year("{name: 元旦, from: 2026-01-01}") + _year("{name: 元旦, from: 2026-01-02}")
     .replace("public_holidays:\n", ""), "public_holidays.1: year 2026 is listed twice"),
    (_year("{from: 2026-01-01}"), "public_holidays.0.holidays.0.name"),
    (_year("{name: 元旦, from: 2026-01-01, until: 2026-01-03}"),
     "public_holidays.0.holidays.0.until"),
    (_year("{name: 元旦, from: 2026-01-01}") + "holidays: [2026-01-01]\n",
     "holidays: 2026-01-01 is listed twice"),
    ("workday_hours_of: 6\n", "workday_hours_of: weekday 6 has no hours"),
    ("workday_hours_of: 8\n", "workday_hours_of"),
    ("timezone: Asia/Nowhere\n", "timezone: unknown time zone 'Asia/Nowhere'"),
])
def test_bad_calendar_files_name_the_file_and_the_field(tmp_path: Path, text: str,
                                                        message: str) -> None:
    path = tmp_path / "hours.yaml"
    path.write_text(HOURS + text, encoding="utf-8")
    with pytest.raises(CalendarError) as caught:
        ServiceCalendar.load(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
