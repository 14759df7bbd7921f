"""What every request's input must be, whatever route it goes to.

Integers are bounded by what the database stores (``Id``, ``Count``, ``PageNumber``): a number
beyond PostgreSQL's INTEGER (or SQLite's 64 bits) is refused with 422 instead of failing in the
driver. Text anywhere in a request — path, query string, JSON body, at any depth, keys too —
may contain neither NUL (PostgreSQL cannot store it) nor a lone UTF-16 surrogate such as
``"\\ud800"`` (JSON allows the escape; no database or response can encode it):
:func:`clean_text` refuses both with one 422 naming the field, on every route (an app-wide
dependency), so the rule holds the same for queries, votes, names and titles.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from annotated_types import Ge, Le
from fastapi import Request
from pydantic import AfterValidator

from kb.clock import CALENDAR, on_calendar
from kb.errors import Problem, ValidationFailed

MAX_INT = 2**31 - 1  # PostgreSQL INTEGER: ids, revision numbers and counters are stored as one
MAX_PAGE = 100_000  # pages of at most 100 rows: far past any list, and the offset fits

Id = Annotated[int, Ge(1), Le(MAX_INT)]  # a row id or a revision number
Count = Annotated[int, Ge(0), Le(MAX_INT)]
PageNumber = Annotated[int, Ge(1), Le(MAX_PAGE)]


def _on_calendar(value: datetime) -> datetime:
    if not on_calendar(value):
        raise ValueError(f"out of range: write {CALENDAR}")
    return value


# A date-time of the content (validity, scheduled publication): one at the calendar's edge
# with an offset (0001-01-01T00:00:00+14:00) cannot even be moved to UTC.
Moment = Annotated[datetime, AfterValidator(_on_calendar)]


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored or sent back as text; None when it can."""
    if "\x00" in value:
        return "text must not contain NUL characters (\\u0000)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "text must be valid Unicode: a lone surrogate (such as \\ud800) is not"
    return None


def printable(value: object, limit: int = 100) -> object:
    """``value`` as an error message may echo it: encodable, and not too long."""
    if not isinstance(value, str):
        return value
    text = value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return text if len(text) <= limit else text[:limit] + "…"


def _strings(data: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string of a parsed JSON body (keys too) with its dotted path, depth first; a
    stack, not recursion, however deep the body nests."""
    stack: list[tuple[str, Any]] = [(path, data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            yield where, value
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                inner = f"{where}.{key}" if where else str(key)
                stack.append((inner, item))
                stack.append((inner, str(key)))
        elif isinstance(value, list):
            for i in reversed(range(len(value))):
                stack.append((f"{where}.{i}" if where else str(i), value[i]))


async def clean_text(request: Request) -> None:
    """Refuse NUL and lone surrogates anywhere in the request (path, query, JSON body)."""
    found: list[tuple[str, str, str]] = []
    for name, value in request.path_params.items():
        if isinstance(value, str):
            found.append((name, value, "path"))
    for name, value in request.query_params.multi_items():
        found.append((name, value, "query"))
        found.append((name, name, "query"))
    content_type = request.headers.get("content-type", "")
    if "json" in content_type:
        try:
            body = await request.json()  # FastAPI parsed it already; Starlette keeps the result
        except (ValueError, UnicodeDecodeError, RecursionError):
            body = None  # not JSON (or nested past the parser): the route's own parsing says so
        found.extend((field or "body", text, "body") for field, text in _strings(body, ""))
    problems = []
    for field, text, location in found:
        message = text_problem(text)
        if message is not None:
            problems.append(Problem(message, field, printable(text), location))
    if problems:
        names = ", ".join(dict.fromkeys(p.field or "request" for p in problems))
        raise ValidationFailed(f"The request is not valid: {names}.", problems=problems)
