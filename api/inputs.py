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

from datetime import datetime
from typing import Annotated

from annotated_types import Ge, Le
from fastapi import Request
from pydantic import AfterValidator

from kb.bounds import MAX_ID
from kb.clock import CALENDAR, on_calendar
from kb.errors import Problem, ValidationFailed
from kb.text import printable, strings_in, text_problem

MAX_INT = MAX_ID  # PostgreSQL INTEGER: ids, revision numbers and counters are stored as one
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
        found.extend((field or "body", text, "body") for field, text in strings_in(body))
    problems = []
    for field, text, location in found:
        message = text_problem(text)
        if message is not None:
            problems.append(Problem(message, field, printable(text), location))
    if problems:
        names = ", ".join(dict.fromkeys(p.field or "request" for p in problems))
        raise ValidationFailed(f"The request is not valid: {names}.", problems=problems)
