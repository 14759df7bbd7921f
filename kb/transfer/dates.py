"""Dates and date-times of content files: read in the settings zone, stored and written as UTC.

A bare date means 00:00 of that day in the zone; for ``valid_until`` it means the end of that
day (00:00 of the next day), so ``valid_until: 2027-06-30`` is valid all of June 30th. Export
writes ``2027-06-30T16:00:00Z``, which reads back as the same instant.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from kb.clock import CALENDAR, on_calendar
from kb.errors import Problem

_DATE_RE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$")
HINT = "write a date (2026-06-30) or an ISO date-time with offset (2026-06-30T18:00:00+08:00)"


def parse_when(
    value: object,
    *,
    zone: ZoneInfo,
    end_of_day: bool = False,
    field: str,
    location: str | None = None,
) -> tuple[datetime | None, list[Problem]]:
    """Aware UTC datetime from a file value (None for empty), or a problem naming the field."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, []
    moment: date
    if isinstance(value, date):  # a datetime too
        moment = value
    elif isinstance(value, str):
        text = value.strip()
        match = _DATE_RE.match(text)
        try:
            moment = (
                date(*(int(g) for g in match.groups())) if match else datetime.fromisoformat(text)
            )
        except ValueError:
            return None, [Problem(f"not a valid date: {HINT}", field, value, location)]
    else:
        return None, [Problem(f"not a date: {HINT}", field, value, location)]
    if not on_calendar(moment):
        return None, [Problem(f"out of range: write {CALENDAR}", field, value, location)]
    if not isinstance(moment, datetime):
        return _day_start(moment, zone, end_of_day), []
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC), []


def _day_start(day: date, zone: ZoneInfo, end_of_day: bool) -> datetime:
    if end_of_day:
        day += timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def format_when(value: datetime | None) -> str | None:
    """``2027-06-30T16:00:00Z``: what export writes."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
