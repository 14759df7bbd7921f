"""The one source of 'now' (aware UTC), replaceable in tests to freeze time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return _now()


def ensure_utc(value: datetime) -> datetime:
    """Aware UTC version of ``value``; naive values are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@contextmanager
def frozen(at: datetime) -> Iterator[None]:
    """Freeze :func:`utcnow` at ``at`` for the duration of the block."""
    global _now
    previous = _now
    fixed = ensure_utc(at)
    _now = lambda: fixed  # noqa: E731
    try:
        yield
    finally:
        _now = previous
