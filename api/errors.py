"""The one place where errors become HTTP responses.

Every error body has the same shape, whatever raised it::

    {"error": "validation_failed", "message": "...",
     "problems": [{"field": "title", "value": "", "message": "...", "location": null}]}

Domain errors (:class:`kb.errors.ZhikuError`) carry their own status; request-validation errors
from FastAPI are reshaped into the same problems list (so is a body FastAPI cannot parse at all,
which it would answer with a bare 400); HTTP errors raised by Starlette itself (unknown path,
wrong method) keep their status. What an error echoes of the request is made encodable first.

:func:`documented` puts these bodies into the OpenAPI document, status by status.
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
from api.schemas import ErrorOut
from kb.errors import Problem, ZhikuError
from kb.text import printable

log = logging.getLogger("zhiku.api")


class PayloadTooLarge(ZhikuError):
    """A request body (an upload) is over the configured limit."""

    status = 413


class TooManyRequests(ZhikuError):
    """A client spent its budget of some kind of request (:mod:`api.ratelimit`)."""

    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


DESCRIPTIONS = {
    401: "No, an unknown or a revoked API token",
    403: "The token's user may not do this (role or scope)",
    404: "What the path names does not exist (or the caller may not see it)",
    409: "The state does not allow it now (the message says what is allowed), or a duplicate",
    413: "The upload is too large",
    422: "The request is not valid: every problem with its field, value and location",
    429: "Too many requests of this kind from this client; `Retry-After` says when to retry",
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, each with the one error body."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {"model": ErrorOut, "description": DESCRIPTIONS[status]}
        if status == 429:
            out[status]["headers"] = {
                "Retry-After": {
                    "description": "Seconds until the budget allows another request",
                    "schema": {"type": "integer"},
                }
            }
    return out


def error_kind(exc: BaseException) -> str:
    """``ValidationFailed`` → ``validation_failed``: the machine-readable error name."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


def error_body(kind: str, message: str, problems: list[Problem]) -> dict[str, Any]:
    return {
        "error": kind,
        "message": printable(message, limit=2000),
        "problems": [
            {k: printable(v, limit=2000) for k, v in p.to_dict().items()} for p in problems
        ],
    }


PAGE_TITLES = {404: "没有找到这个页面", 422: "请求有误", 413: "文件太大", 429: "请求太频繁"}


def respond(
    request: Request,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> Response:
    """JSON for the API; an error page for a browser on one of the web pages."""
    if wants_html(request):
        page = render(
            request,
            "error.html",
            "faq",
            status_code=status,
            title=PAGE_TITLES.get(status, "出错了"),
            message=body["message"],
            problems=body["problems"],
        )
        page.headers.update(headers or {})
        return page
    return JSONResponse(body, status_code=status, headers=headers)


def _zhiku_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ZhikuError)
    return refusal(request, exc)


def refusal(request: Request, exc: ZhikuError) -> Response:
    """The response to a domain error (also for middleware, outside the exception handlers)."""
    if exc.status >= 500:
        log.error("%s: %s", type(exc).__name__, exc)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after)}
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
        problems.append(Problem(err.get("msg", "invalid"), field, printable(value), where))
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
    if isinstance(exc.__cause__, ZhikuError):  # FastAPI's 400 for a body it failed to read
        return refusal(request, exc.__cause__)  # … over api.body_limit's limit, as it arrived
    if exc.status_code == 400:
        # FastAPI's answer to a body it cannot decode (not UTF-8, a broken form): as invalid as
        # a JSON syntax error, which it answers with 422.
        message = "The request body could not be read: send UTF-8 JSON (or the form it asks for)."
        problem = Problem(str(exc.detail), None, None, "body")
        return respond(request, 422, error_body("validation_failed", message, [problem]))
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
