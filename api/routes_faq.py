"""Customer self-service endpoints: anonymous, and only what :mod:`kb.portal` lets through."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api import limits, ratelimit, schemas, views
from api import schemas_requests as requests_out
from api.deps import DbSession, Now, RuntimeDep, after_commit, spends
from api.errors import documented
from api.runtime import Runtime
from api.searching import log_search
from api.views_requests import customer_out, status_url
from kb import feedback, handoff, portal
from kb.contact import Contact
from kb.visibility import Channel
from presenters.fields import Format

router = APIRouter(prefix="/api/faq", tags=["customer FAQ"])

FormatQ = Annotated[Format, Query(description="How answers are rendered: plain, markdown or html")]


@router.get("/tree", summary="Category tree of the public FAQ")
def faq_tree(session: DbSession, now: Now) -> schemas.FaqTree:
    """Categories › packages › tables a customer may read now (empty branches left out)."""
    return views.faq_tree(portal.category_tree(session, now))


@router.get(
    "/tables/{code}",
    summary="One public FAQ entry with its public fields",
    responses=documented(404),
)
def faq_table(
    code: str, session: DbSession, now: Now, format: FormatQ = Format.HTML
) -> schemas.FaqTable:
    """404 for anything a customer may not read: internal, draft, expired or archived."""
    return views.faq_table(portal.public_table(session, code, now), format)


@router.get(
    "/search",
    summary="Search the public FAQ",
    dependencies=[Depends(spends(ratelimit.ANONYMOUS_SEARCH))],
    responses=documented(429),
)
def faq_search(
    request: Request,
    runtime: RuntimeDep,
    session: DbSession,
    now: Now,
    q: Annotated[
        str, Query(min_length=1, max_length=limits.MAX_QUERY_CHARS, description="The question")
    ],
    k: Annotated[int, Query(ge=1, le=limits.MAX_K)] = 5,
    category: Annotated[str | None, Query(max_length=100)] = None,
    format: FormatQ = Format.HTML,
) -> schemas.FaqSearchOut:
    """Public, published, in-validity answers only; `abstained` means: offer a human agent."""
    started = time.perf_counter()
    found = portal.customer_search(
        session,
        runtime,
        q.strip(),
        k=k,
        category=category,
        now=now,
        match_of=views.customer_match_of(q),
    )
    took_ms = (time.perf_counter() - started) * 1000
    log_id = log_search(
        session,
        runtime,
        query=q,
        result=found.result,
        latency_ms=took_ms,
        client=ratelimit.client_of(request),
    )
    return views.faq_search(q, found, format, log_id)


def _first_from(request: Request, runtime: Runtime, text: str) -> str:
    """``text``, or "" when this client sent it within ``ZHIKU_QUERY_LOG_REPEAT_S``: a
    customer's words count once per client and window toward the knowledge-gap list, as a
    repeated search is logged once (one address voting a sentence 20 times made it gap #1)."""
    key = f"gap:{' '.join(text.split())}"
    client = ratelimit.client_of(request)
    window = runtime.settings.query_log_repeat_s
    return text if text.strip() and runtime.limiter.first_time(key, client, window) else ""


@router.post(
    "/feedback",
    summary="Customer vote: did this answer help?",
    dependencies=[Depends(spends(ratelimit.ANONYMOUS_WRITE))],
    responses=documented(404, 429),
)
def faq_feedback(
    request: Request, runtime: RuntimeDep, session: DbSession, now: Now, body: schemas.FeedbackIn
) -> schemas.FeedbackOut:
    """`code` empty with `helpful=false` records that nothing fitted (a knowledge gap)."""
    table = portal.public_table_row(session, body.code, now) if body.code else None
    vote = feedback.record_vote(
        session,
        channel=Channel.CUSTOMER.value,
        table=table,
        helpful=body.helpful,
        query=body.query if body.helpful else _first_from(request, runtime, body.query),
        query_log_id=body.query_log_id,
    )
    after_commit(session, runtime.refresh_feedback)
    return schemas.FeedbackOut(id=vote.id, code=body.code, helpful=vote.helpful)


@router.post(
    "/requests",
    status_code=201,
    summary="Ask for a person: a request staff answer (联系人工客服)",
    dependencies=[Depends(spends(ratelimit.ANONYMOUS_WRITE))],
    responses=documented(429),
)
def create_request(
    request: Request, runtime: RuntimeDep, session: DbSession, body: requests_out.RequestIn
) -> requests_out.RequestCreated:
    """Keep `ref` and `token`: together they open the status page (`status_url`); only the
    token's hash is stored. The question is also logged as a knowledge gap."""
    created = handoff.create_request(
        session,
        handoff.NewRequest(
            question=body.question,
            contact=Contact(name=body.name, phone=body.phone, email=body.email, wechat=body.wechat),
            shown=body.shown,
            abstained=body.abstained,
            channel=body.channel,
            query_log_id=body.query_log_id,
            gap_signal=bool(_first_from(request, runtime, body.question)),
        ),
    )
    after_commit(session, runtime.refresh_feedback)
    ref = created.request.ref
    assert ref is not None
    return requests_out.RequestCreated(
        ref=ref,
        token=created.token,
        status=created.request.status.value,
        status_url=status_url(ref, created.token),
    )


@router.get(
    "/requests/{ref}",
    summary="The status of one's own request (needs its token)",
    dependencies=[Depends(spends(ratelimit.ANONYMOUS_SEARCH))],
    responses=documented(404, 429),
)
def get_request(
    ref: str,
    session: DbSession,
    token: Annotated[str, Query(max_length=64, description="The token given at creation")],
) -> requests_out.CustomerRequestOut:
    """404 for a wrong reference and a wrong token alike."""
    return customer_out(handoff.customer_view(handoff.lookup(session, ref, token)))
