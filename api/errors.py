"""The one place where errors become HTTP responses.

Every error body has the same shape, whatever raised it::

    {"error": "validation_failed", "message": "...",
     "problems": [{"field": "title", "value": "", "message": "...", "location": null}]}

Domain errors (:class:`kb.errors.ZhikuError`) carry their own status; request-validation errors
from FastAPI are reshaped into the same problems list; HTTP errors raised by Starlette itself
(unknown path, wrong method) keep their status.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.html import render, wants_html
from kb.errors import Problem, ZhikuError

log = logging.getLogger("zhiku.api")


class PayloadTooLarge(ZhikuError):
    """A request body (an upload) is over the configured limit."""

    status = 413


def error_kind(exc: BaseException) -> str:
    """``ValidationFailed`` → ``validation_failed``: the machine-readable error name."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


def error_body(kind: str, message: str, problems: list[Problem]) -> dict[str, Any]:
    return {"error": kind, "message": message, "problems": [p.to_dict() for p in problems]}


PAGE_TITLES = {404: "没有找到这个页面", 422: "请求有误", 413: "文件太大"}


def respond(
    request: Request,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> Response:
    """JSON for the API; an error page for a browser on one of the web pages."""
    if wants_html(request):
        return render(
            request,
            "error.html",
            "faq",
            status_code=status,
            title=PAGE_TITLES.get(status, "出错了"),
            message=body["message"],
            problems=body["problems"],
        )
    return JSONResponse(body, status_code=status, headers=headers)


def _zhiku_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ZhikuError)
    if exc.status >= 500:
        log.error("%s: %s", type(exc).__name__, exc)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    body = error_body(error_kind(exc), exc.message, exc.problems)
    return respond(request, exc.status, body, headers)


def _location(loc: tuple[Any, ...]) -> tuple[str | None, str]:
    """FastAPI's ``("query", "k")`` → field ``k``, location ``query``."""
    where = str(loc[0]) if loc else "request"
    field = ".".join(str(part) for part in loc[1:]) or None
    return field, where


def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors():
        field, where = _location(tuple(err.get("loc", ())))
        value = err.get("input")
        if isinstance(value, dict | list):
            value = None  # the whole body or a container: the field name says enough
        problems.append(Problem(err.get("msg", "invalid"), field, value, where))
    names = ", ".join(sorted({p.field or p.location or "request" for p in problems}))
    body = error_body("validation_failed", f"The request is not valid: {names}.", problems)
    return respond(request, 422, body)


def _integrity_error(request: Request, exc: Exception) -> Response:
    # The services check uniqueness first; this is the race two concurrent writers can still hit.
    log.warning("integrity error: %s", exc)
    body = error_body(
        "conflict", "The change collides with a concurrent one; reload and try again.", []
    )
    return respond(request, 409, body)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    kinds = {404: "not_found", 405: "method_not_allowed"}
    kind = kinds.get(exc.status_code, "http_error")
    body = error_body(kind, str(exc.detail), [])
    return respond(request, exc.status_code, body, getattr(exc, "headers", None))


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(ZhikuError, _zhiku_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
