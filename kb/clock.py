"""The one source of 'now' (aware UTC), replaceable in tests to freeze or shift time.

``ZHIKU_CLOCK_OFFSET`` (seconds, may be negative) shifts every process's clock by the same
amount while it keeps running: tests and demos play a scenario on a fixed calendar whatever the
real date, and several processes (the CLI steps of a script, a server) still agree on the order
of events. It is read once, when the clock is first asked.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime, timedelta

OFFSET_ENV = "ZHIKU_CLOCK_OFFSET"
# The years a date of the content may fall in (validity, scheduled publication): far past any
# real one, and far enough inside the calendar's ends (years 1 and 9999) that moving it to UTC,
# to the end of its day or by a review interval never overflows.
FIRST_YEAR, LAST_YEAR = 1900, 8999
CALENDAR = f"a date in the years {FIRST_YEAR} to {LAST_YEAR}"

_now: Callable[[], datetime] | None = None


def _from_environment() -> Callable[[], datetime]:
    raw = os.environ.get(OFFSET_ENV, "").strip()
    if not raw:
        return lambda: datetime.now(UTC)
    try:
        offset = timedelta(seconds=float(raw))
    except (ValueError, OverflowError):
        raise SystemExit(
            f"{OFFSET_ENV}={raw!r} is not a number of seconds; unset it or give e.g. -86400"
        ) from None
    return lambda: datetime.now(UTC) + offset


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    global _now
    if _now is None:
        _now = _from_environment()
    return _now()


def on_calendar(value: date) -> bool:
    """Whether ``value`` (a date or date-time, in any zone) lies in the years content may use."""
    return FIRST_YEAR <= value.year <= LAST_YEAR


def ensure_utc(value: datetime) -> datetime:
    """Aware UTC version of ``value``; naive values are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@contextmanager
def _replaced(clock: Callable[[], datetime]) -> Iterator[None]:
    global _now
    previous = _now
    _now = clock
    try:
        yield
    finally:
        _now = previous


def frozen(at: datetime) -> AbstractContextManager[None]:
    """Freeze :func:`utcnow` at ``at`` for the duration of the block."""
    fixed = ensure_utc(at)
    return _replaced(lambda: fixed)


def running_from(at: datetime) -> AbstractContextManager[None]:
    """Inside the block the clock reads ``at`` on entry and runs on in real time."""
    offset = ensure_utc(at) - datetime.now(UTC)
    return _replaced(lambda: datetime.now(UTC) + offset)


def offset_to(at: datetime) -> float:
    """The ``ZHIKU_CLOCK_OFFSET`` that makes another process's clock read ``at`` now."""
    return (ensure_utc(at) - datetime.now(UTC)).total_seconds()
