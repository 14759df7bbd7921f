"""The web pages: customer FAQ (server-rendered), agent console and admin desk (a little JS).

Errors on these pages (an unknown or non-public table, a too-long question) are rendered as an
error page by the one handler in :mod:`api.errors`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api import limits, views
from api.deps import DbSession, Now, RuntimeDep
from api.html import render
from api.searching import log_search
from kb import portal, repository
from kb.visibility import Channel
from presenters.fields import Format

router = APIRouter(include_in_schema=False)


@router.get("/", summary="Home: the customer FAQ portal")
def home() -> RedirectResponse:
    return RedirectResponse("/faq", status_code=307)


@router.get(
    "/faq", summary="Customer FAQ portal: category tree and search", response_class=HTMLResponse
)
def faq_page(
    request: Request,
    runtime: RuntimeDep,
    session: DbSession,
    now: Now,
    q: Annotated[str, Query(max_length=limits.MAX_QUERY_CHARS)] = "",
) -> HTMLResponse:
    q = q.strip()
    tree = portal.category_tree(session, now)
    context: dict[str, Any] = {
        "tree": tree,
        "q": q,
        "searched": bool(q),
        "results": [],
        "maybe": [],
    }
    if q:
        found = portal.customer_search(session, runtime, q, k=5, now=now, match_of=views.match_of)
        log_id = log_search(
            session,
            runtime,
            channel=Channel.CUSTOMER.value,
            query=q,
            result=found.result,
            latency_ms=0.0,
        )
        out = views.faq_search(q, found, Format.HTML, log_id)
        strong = [h for h in out.results if h.confidence >= out.threshold]
        # Below a quarter of the threshold a hit is noise; a customer is better served by a human.
        maybe = [h for h in out.results if out.threshold / 4 <= h.confidence < out.threshold]
        context.update(results=strong, maybe=maybe, abstained=out.abstained or not strong)
    return render(request, "faq.html", "faq", **context)


@router.get(
    "/faq/tables/{code}", summary="Customer FAQ: one answer page", response_class=HTMLResponse
)
def faq_table_page(
    request: Request,
    code: str,
    session: DbSession,
    now: Now,
    q: Annotated[str, Query(max_length=limits.MAX_QUERY_CHARS)] = "",
) -> HTMLResponse:
    table = views.faq_table(portal.public_table(session, code, now), Format.HTML)
    return render(request, "faq_table.html", "faq", table=table, q=q)


@router.get(
    "/agent", summary="Agent console: search, copy, vote, flag", response_class=HTMLResponse
)
def agent_page(request: Request, session: DbSession) -> HTMLResponse:
    categories = [c.name for c in repository.all_categories(session)]
    return render(request, "agent.html", "agent", categories=categories)


@router.get(
    "/admin",
    summary="Admin desk: review, queues, editor, import, hit test",
    response_class=HTMLResponse,
)
def admin_page(request: Request) -> HTMLResponse:
    return render(request, "admin.html", "admin")
