"""The web pages: customer FAQ (server-rendered), agent console and admin desk (a little JS).

Errors on these pages (an unknown or non-public table, a too-long question) are rendered as an
error page by the one handler in :mod:`api.errors`.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import limits, ratelimit, views
from api.deps import DbSession, Now, RuntimeDep
from api.html import render
from api.searching import log_search
from kb import handoff, portal
from presenters.fields import Format

router = APIRouter(include_in_schema=False)


@router.get("/", summary="Home: the customer FAQ portal")
def home() -> RedirectResponse:
    return RedirectResponse("/faq", status_code=307)


STATUS_NAMES = {
    "new": "已收到，等待客服处理",
    "in_progress": "客服正在处理",
    "answered": "客服已答复",
    "closed": "已结束",
}


def _too_long(q: str) -> str:
    return (
        f"您的问题有 {len(q)} 个字，超过了 {limits.MAX_QUERY_CHARS} 字的搜索上限。"
        "请精简成一句话再搜索；如果需要详细描述，可以直接联系人工客服。"
    )


@router.get(
    "/faq", summary="Customer FAQ portal: category tree and search", response_class=HTMLResponse
)
def faq_page(
    request: Request,
    runtime: RuntimeDep,
    session: DbSession,
    now: Now,
    q: str = "",
) -> HTMLResponse:
    # No max_length on the parameter: a question that is too long gets this page with a
    # sentence saying so (and a way to a person), not a validation error.
    q = q.strip()
    client = ratelimit.client_of(request)
    if q:
        runtime.limiter.spend(ratelimit.ANONYMOUS_SEARCH, client)
    tree = portal.category_tree(session, now)
    context: dict[str, Any] = {
        "tree": tree,
        "q": q,
        "searched": bool(q),
        "results": [],
        "maybe": [],
        "abstained": True,
        "log_id": None,
        "error": "",
    }
    if len(q) > limits.MAX_QUERY_CHARS:
        context.update(error=_too_long(q), searched=False, too_long=True)
    elif q:
        found = portal.customer_search(
            session, runtime, q, k=5, now=now, match_of=views.customer_match_of(q)
        )
        log_id = log_search(
            session,
            runtime,
            query=q,
            result=found.result,
            latency_ms=0.0,
            client=client,
        )
        out = views.faq_search(q, found, Format.HTML, log_id)
        strong = [h for h in out.results if h.confidence >= out.threshold]
        # Below a quarter of the threshold a hit is noise; a customer is better served by a human.
        maybe = [h for h in out.results if out.threshold / 4 <= h.confidence < out.threshold]
        context.update(
            results=strong, maybe=maybe, abstained=out.abstained or not strong, log_id=log_id
        )
    return render(request, "faq.html", "faq", **context)


@router.get(
    "/faq/tables/{code}", summary="Customer FAQ: one answer page", response_class=HTMLResponse
)
def faq_table_page(
    request: Request,
    code: str,
    session: DbSession,
    now: Now,
    q: str = "",
) -> HTMLResponse:
    table = views.faq_table(portal.public_table(session, code, now), Format.HTML)
    # The question only travels on to a vote or a request; a long one is cut, not refused.
    q = q.strip()[: limits.MAX_QUERY_CHARS]
    return render(request, "faq_table.html", "faq", table=table, q=q)


@router.get(
    "/faq/request",
    summary="Customer FAQ: look up a request by reference number and token",
    response_class=HTMLResponse,
)
def faq_request_lookup(
    request: Request,
    ref: Annotated[str, Query(max_length=20)] = "",
    token: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    ref, token = ref.strip(), token.strip()
    if ref and token:
        return RedirectResponse(
            f"/faq/request/{quote(ref.upper())}?token={quote(token)}", status_code=303
        )
    return render(request, "faq_request.html", "faq", found=None, ref=ref, error="")


@router.get(
    "/faq/request/{ref}",
    summary="Customer FAQ: the status of one's own request",
    response_class=HTMLResponse,
)
def faq_request_page(
    request: Request,
    runtime: RuntimeDep,
    ref: str,
    session: DbSession,
    token: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    # A look-up by reference and token, like the API's: from the same budget, so that guessing
    # tokens through the page is no faster than through the API.
    runtime.limiter.spend(ratelimit.ANONYMOUS_SEARCH, ratelimit.client_of(request))
    own = handoff.find_own(session, ref, token)
    if own is None:
        # The same answer for an unknown reference and a wrong token: nothing to learn here.
        return render(
            request,
            "faq_request.html",
            "faq",
            status_code=404,
            found=None,
            ref=ref,
            error="没有找到这个请求：请核对参考编号和查询码（提交时页面上显示的链接包含这两项）。",
        )
    view = handoff.customer_view(own)
    return render(
        request,
        "faq_request.html",
        "faq",
        found=view,
        status_name=STATUS_NAMES[view.status.value],
        ref=view.ref,
        error="",
    )


@router.get(
    "/agent", summary="Agent console: search, copy, vote, flag", response_class=HTMLResponse
)
def agent_page(request: Request) -> HTMLResponse:
    """The console's shell: nothing of the knowledge base until a token signs in (agent.js then
    fills the category choices from /api/search/categories)."""
    return render(request, "agent.html", "agent")


@router.get(
    "/admin",
    summary="Admin desk: review, queues, editor, import, hit test",
    response_class=HTMLResponse,
)
def admin_page(request: Request) -> HTMLResponse:
    return render(request, "admin.html", "admin")
