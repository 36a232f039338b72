"""The service calendar's coverage: logged at start-up and shown in the health report.

A calendar without the public holidays of the current or the next year routes callers to
agents on those holidays (and closes on their make-up workdays): both places warn until the
State Council's notice for the year is added to the hours file."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from ivr.calendar import CalendarError, ServiceCalendar

log = logging.getLogger(__name__)


def load_checked(path: Path, now: datetime) -> ServiceCalendar | CalendarError:
    """The calendar in ``path``, a gap in its years logged as a warning; a broken file is
    logged and returned (for the health report), not raised."""
    try:
        calendar = ServiceCalendar.load(path)
    except CalendarError as exc:
        log.error("service calendar: %s", exc)
        return exc
    warning = calendar.coverage_warning(now)
    if warning is not None:
        log.warning("%s (%s)", warning, path)
    return calendar


def calendar_check(calendar: ServiceCalendar | CalendarError | None, now: datetime
                   ) -> dict[str, Any]:
    """The health report's ``calendar`` entry at ``now``."""
    if calendar is None:
        return {"ok": False, "error": "the service calendar is not loaded"}
    if isinstance(calendar, CalendarError):
        return {"ok": False, "error": str(calendar)[:300]}
    warning = calendar.coverage_warning(now)
    check: dict[str, Any] = {"ok": warning is None, **calendar.describe(),
                             "missing_years": calendar.missing_years(calendar.local(now).date())}
    if warning is not None:
        check["warning"] = warning
    return check
