"""The service calendar: when agents answer (weekly hours, public holidays, make-up workdays).

Loaded from YAML (``HOTLINE_HOURS_FILE``, default ``ivr/hours.yaml``); the clock is injected so
tests can place a call at any moment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_HOURS_FILE = Path(__file__).with_name("hours.yaml")


class _Hours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: list[int] = Field(min_length=1)
    open: time
    close: time


class _CalendarFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str = "Asia/Shanghai"
    always_open: bool = False   # a 24/7 service (demos, tests); hours are then only announced
    hours: list[_Hours] = Field(min_length=1)
    holidays: list[date] = Field(default_factory=list)
    workdays: list[date] = Field(default_factory=list)  # make-up working days (调休)


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

    @classmethod
    def load(cls, path: Path = DEFAULT_HOURS_FILE) -> ServiceCalendar:
        try:
            raw = _CalendarFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            raise CalendarError(f"{path}: {exc}") from exc
        for h in raw.hours:
            if any(d < 1 or d > 7 for d in h.days) or h.open >= h.close:
                raise CalendarError(f"{path}: hours need days 1-7 and open before close")
        ZoneInfo(raw.timezone)
        return cls(tuple(OpeningHours(tuple(h.days), h.open, h.close) for h in raw.hours),
                   frozenset(raw.holidays), frozenset(raw.workdays), raw.timezone,
                   raw.always_open)

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
        # a make-up workday keeps the hours of the first weekday rule (Monday's)
        weekday = day.isoweekday() if day not in self.workdays else self.hours[0].days[0]
        now = local.time()
        return any(weekday in h.days and h.open <= now < h.close for h in self.hours)

    @property
    def main_hours(self) -> OpeningHours:
        return self.hours[0]
