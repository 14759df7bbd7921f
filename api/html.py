"""The Jinja2 environment of the web pages, shared by the page routes and the error handler."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context

from api import limits

templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")


def _date(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d") if value else ""


@pass_context
def _datetime(context: Context, value: datetime | None) -> str:
    """Minutes in the service's zone (ZHIKU_TIMEZONE), as customers read a clock."""
    zone = context.get("zone")
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""


templates.env.filters["date"] = _date
templates.env.filters["datetime"] = _datetime

LOGIN_PAGES = {"agent", "admin"}


def render(
    request: Request, name: str, page: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A page; ``page`` names the navigation entry (faq, agent, admin) and decides the login box."""
    runtime = getattr(request.app.state, "runtime", None)
    context.update(
        page=page,
        login=page in LOGIN_PAGES,
        max_query=limits.MAX_QUERY_CHARS,
        zone=runtime.settings.zone if runtime is not None else None,
    )
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def wants_html(request: Request) -> bool:
    """Pages get HTML errors; the API (and anything asking for JSON) gets JSON."""
    path = request.url.path
    return not path.startswith(("/api/", "/docs", "/openapi", "/static/")) and (
        "text/html" in request.headers.get("accept", "") or path == "/"
    )
