"""The service calendar: when agents answer (weekly hours, public holidays, make-up workdays).

Loaded from YAML (``HOTLINE_HOURS_FILE``, default ``ivr/hours.yaml``); the clock is injected so
tests can place a call at any moment. Public holidays and make-up workdays (调休) are listed per
year under ``public_holidays``, each year naming the State Council notice it comes from and
each holiday its name (so prompts and the timeline can say which holiday it is); ``holidays``
and ``workdays`` take further, unnamed dates (a local closure, or a file of the older format).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_HOURS_FILE = Path(__file__).with_name("hours.yaml")
UNNAMED_HOLIDAY = "节假日"  # the name of a holiday listed without one (``holidays:``)


class _Hours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: list[int] = Field(min_length=1)
    open: time
    close: time


class _Holiday(BaseModel):
    """One holiday of a notice: the days off (``from``-``to``, both included) and the
    make-up workdays that go with it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1)
    start: date = Field(alias="from")
    end: date | None = Field(default=None, alias="to")  # a one-day holiday: ``from`` only
    workdays: list[date] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ordered(self) -> _Holiday:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"{self.name}: 'to' ({self.end}) is before 'from' ({self.start})")
        return self

    def days(self) -> list[date]:
        last = self.end or self.start
        return [self.start + timedelta(days=n) for n in range((last - self.start).days + 1)]


class _Year(BaseModel):
    """The holidays of one year, as the State Council's notice for that year lists them."""

    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=2000, le=2999)
    notice: str = Field(min_length=1)
    holidays: list[_Holiday] = Field(min_length=1)

    @model_validator(mode="after")
    def _within_the_year(self) -> _Year:
        # a notice may start its New Year break in the December before (2019: 2018-12-29/30)
        first = date(self.year - 1, 12, 1)
        last = date(self.year, 12, 31)
        for holiday in self.holidays:
            for day in (holiday.start, holiday.end or holiday.start, *holiday.workdays):
                if not first <= day <= last:
                    raise ValueError(f"{holiday.name}: {day} is outside the notice's year "
                                     f"{self.year}")
        return self


class _CalendarFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str = "Asia/Shanghai"
    always_open: bool = False   # a 24/7 service (demos, tests); hours are then only announced
    hours: list[_Hours] = Field(min_length=1)
    workday_hours_of: int = Field(default=1, ge=1, le=7)  # make-up workdays: this weekday's hours
    public_holidays: list[_Year] = Field(default_factory=list)
    holidays: list[date] = Field(default_factory=list)  # further days off, unnamed
    workdays: list[date] = Field(default_factory=list)  # further make-up working days (调休)


class CalendarError(ValueError):
    pass


@dataclass(frozen=True)
class OpeningHours:
    days: tuple[int, ...]       # ISO weekdays, 1 = Monday
    open: time
    close: time


@dataclass(frozen=True)
class ServiceCalendar:
    hours: tuple[OpeningHours, ...]
    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)
    timezone: str = "Asia/Shanghai"
    always_open: bool = False
    # the name of each holiday and make-up workday, e.g. 春节 (those not named: UNNAMED_HOLIDAY)
    names: Mapping[date, str] = field(default_factory=dict, hash=False)
    # year -> the notice its holidays come from
    notices: Mapping[int, str] = field(default_factory=dict, hash=False)
    # a make-up workday keeps the hours of this ISO weekday (default Monday)
    workday_hours_of: int = 1

    def __post_init__(self) -> None:
        both = self.holidays & self.workdays
        if both:
            raise CalendarError("both a holiday and a make-up workday: "
                                + ", ".join(map(str, sorted(both))))
        if not any(self.workday_hours_of in h.days for h in self.hours):
            raise CalendarError(f"workday_hours_of: weekday {self.workday_hours_of} has no "
                                "hours, so a make-up workday would have none")

    @classmethod
    def load(cls, path: Path = DEFAULT_HOURS_FILE) -> ServiceCalendar:
        try:
            text = path.read_text(encoding="utf-8")
            raw = _CalendarFile.model_validate(yaml.load(text, Loader=yaml.CSafeLoader))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}"
                                 for e in exc.errors())
            raise CalendarError(f"{path}: {problems}") from exc
        except (OSError, yaml.YAMLError) as exc:
            raise CalendarError(f"{path}: {exc}") from exc
        for n, h in enumerate(raw.hours):
            if any(d < 1 or d > 7 for d in h.days) or h.open >= h.close:
                raise CalendarError(f"{path}: hours.{n}: hours need days 1-7 and open "
                                    "before close")
        try:
            ZoneInfo(raw.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise CalendarError(f"{path}: timezone: unknown time zone {raw.timezone!r}") from exc
        try:
            return cls._of(raw)
        except CalendarError as exc:
            raise CalendarError(f"{path}: {exc}") from exc

    @classmethod
    def _of(cls, raw: _CalendarFile) -> ServiceCalendar:
        names: dict[date, str] = {}
        holidays: set[date] = set()
        workdays: set[date] = set()
        notices: dict[int, str] = {}

        def add(day: date, name: str, into: set[date], where: str) -> None:
            if day in holidays or day in workdays:
                raise CalendarError(f"{where}: {day} is listed twice ({names[day]}, {name})")
            into.add(day)
            names[day] = name

        for n, year in enumerate(raw.public_holidays):
            if year.year in notices:
                raise CalendarError(f"public_holidays.{n}: year {year.year} is listed twice")
            notices[year.year] = year.notice
            for m, holiday in enumerate(year.holidays):
                where = f"public_holidays.{n}.holidays.{m}"
                for day in holiday.days():
                    add(day, holiday.name, holidays, where)
                for day in holiday.workdays:
                    add(day, holiday.name, workdays, f"{where}.workdays")
        for day in raw.holidays:
            add(day, UNNAMED_HOLIDAY, holidays, "holidays")
        for day in raw.workdays:
            add(day, UNNAMED_HOLIDAY, workdays, "workdays")
        return cls(tuple(OpeningHours(tuple(h.days), h.open, h.close) for h in raw.hours),
                   frozenset(holidays), frozenset(workdays), raw.timezone, raw.always_open,
                   names, notices, raw.workday_hours_of)

    def local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            raise ValueError("naive datetime given to the service calendar")
        return moment.astimezone(ZoneInfo(self.timezone))

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return any(day.isoweekday() in h.days for h in self.hours)

    def is_open(self, moment: datetime) -> bool:
        local = self.local(moment)
        if self.always_open:
            return True
        day = local.date()
        if not self.is_working_day(day):
            return False
        weekday = day.isoweekday() if day not in self.workdays else self.workday_hours_of
        now = local.time()
        return any(weekday in h.days and h.open <= now < h.close for h in self.hours)

    def day_notes(self, day: date) -> dict[str, str]:
        """What is special about ``day``: ``{"holiday": name}`` on a public holiday,
        ``{"make_up_workday": name}`` on a make-up workday (for the holiday it makes up),
        ``{}`` on any other day."""
        if day in self.workdays:
            return {"make_up_workday": self.names.get(day, UNNAMED_HOLIDAY)}
        if day in self.holidays:
            return {"holiday": self.names.get(day, UNNAMED_HOLIDAY)}
        return {}

    @property
    def years(self) -> frozenset[int]:
        """The years with at least one public holiday or make-up workday listed."""
        return frozenset(d.year for d in self.holidays | self.workdays) | frozenset(self.notices)

    def missing_years(self, today: date) -> list[int]:
        """Of ``today``'s year and the next, those the calendar lists nothing for: their
        holidays would be taken for working days (and their 调休 weekends for days off)."""
        return [y for y in (today.year, today.year + 1) if y not in self.years]

    def coverage_warning(self, moment: datetime) -> str | None:
        """A warning when the calendar lists nothing for the current or the next year (in
        the calendar's time zone at ``moment``), else None."""
        missing = self.missing_years(self.local(moment).date())
        if not missing:
            return None
        years = " and ".join(map(str, missing))
        return (f"the service calendar lists no public holidays or make-up workdays for "
                f"{years}: its holidays would be taken for working days; add them from the "
                f"State Council's notice to the hours file")

    def describe(self) -> dict[str, Any]:
        """The calendar's coverage, for the health report."""
        return {"years": sorted(self.years),
                "notices": {str(y): n for y, n in sorted(self.notices.items())}}

    @property
    def main_hours(self) -> OpeningHours:
        return self.hours[0]
