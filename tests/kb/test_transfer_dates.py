from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from kb.errors import Problem
from kb.transfer.dates import HINT, format_when, parse_when

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("value", "end_of_day", "expected"),
    [
        ("2026-06-30", False, datetime(2026, 6, 29, 16, 0, tzinfo=UTC)),
        ("2026-06-30", True, datetime(2026, 6, 30, 16, 0, tzinfo=UTC)),
        ("2026/6/3", False, datetime(2026, 6, 2, 16, 0, tzinfo=UTC)),
        (date(2026, 12, 31), True, datetime(2026, 12, 31, 16, 0, tzinfo=UTC)),
        ("2026-06-30T18:00:00+08:00", True, datetime(2026, 6, 30, 10, 0, tzinfo=UTC)),
        ("2026-06-30T10:00:00Z", False, datetime(2026, 6, 30, 10, 0, tzinfo=UTC)),
        ("2026-06-30 18:00", False, datetime(2026, 6, 30, 10, 0, tzinfo=UTC)),  # naive: zone
        (datetime(2026, 6, 30, 18, 0), False, datetime(2026, 6, 30, 10, 0, tzinfo=UTC)),
        ("  ", False, None),
        (None, True, None),
    ],
)
def test_parse_when(value: object, end_of_day: bool, expected: datetime | None) -> None:
    parsed, problems = parse_when(value, zone=SHANGHAI, end_of_day=end_of_day, field="f")
    assert problems == []
    assert parsed == expected
    assert parsed is None or parsed.tzinfo is UTC


@pytest.mark.parametrize("value", ["2026-13-01", "2027-02-30", "明天", "30.06.2026", 20260630])
def test_bad_dates_name_field_value_and_fix(value: object) -> None:
    parsed, problems = parse_when(value, zone=SHANGHAI, field="valid_until", location="a.yaml:3")
    assert parsed is None
    reason = "not a valid date" if isinstance(value, str) else "not a date"
    assert problems == [Problem(f"{reason}: {HINT}", "valid_until", value, "a.yaml:3")]


@pytest.mark.parametrize(
    ("value", "end_of_day"),
    [
        ("0001-01-01", False),  # before UTC in Shanghai: the calendar has no day before
        ("9999-12-31", True),  # its end of day is past the calendar
        ("0001-01-01T00:00:00+14:00", False),
        (date(1899, 12, 31), False),
        (datetime(9000, 1, 1), False),
    ],
)
def test_dates_past_the_years_content_may_use_are_refused(value: object, end_of_day: bool) -> None:
    parsed, problems = parse_when(
        value, zone=SHANGHAI, end_of_day=end_of_day, field="valid_until", location="a.yaml:3"
    )
    assert parsed is None
    message = "out of range: write a date in the years 1900 to 8999"
    assert problems == [Problem(message, "valid_until", value, "a.yaml:3")]
    first, last = (
        parse_when("1900-01-01", zone=SHANGHAI, field="f"),
        parse_when("8999-12-31", zone=SHANGHAI, end_of_day=True, field="f"),
    )
    assert first[1] == last[1] == []


def test_format_when_writes_utc_z_and_reads_back_unchanged() -> None:
    moment = datetime(2027, 6, 30, 16, 0, tzinfo=UTC)
    assert format_when(moment) == "2027-06-30T16:00:00Z"
    assert format_when(moment.astimezone(SHANGHAI)) == "2027-06-30T16:00:00Z"
    assert parse_when(format_when(moment), zone=SHANGHAI, field="f") == (moment, [])
    assert format_when(None) is None
