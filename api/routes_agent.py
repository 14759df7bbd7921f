"""Agent endpoints: suggested answers for a question or a transcript, flags and votes."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api import limits, schemas, views
from api.deps import CurrentUser, DbSession, Now, RuntimeDep, after_commit, require
from api.render import Format
from api.searching import log_search
from kb import feedback, flags, tables
from kb.errors import ValidationFailed
from kb.models import User
from kb.permissions import Action
from kb.visibility import Channel

router = APIRouter(prefix="/api", tags=["agent"])

Searcher = Annotated[User, Depends(require(Action.SEARCH))]
Mode = Annotated[str, Query(pattern="^(hybrid|bm25|dense)$", description="hybrid, bm25 or dense")]


@router.get("/search", summary="Suggested answers for an agent's question")
def search(
    runtime: RuntimeDep,
    session: DbSession,
    _user: Searcher,
    now: Now,
    q: Annotated[
        str, Query(min_length=1, max_length=limits.MAX_QUERY_CHARS, description="The question")
    ],
    k: Annotated[int, Query(ge=1, le=limits.MAX_K)] = 5,
    category: Annotated[str | None, Query(max_length=100)] = None,
    package: Annotated[str | None, Query(max_length=201, description="'category/package'")] = None,
    tags: Annotated[list[str] | None, Query(max_length=20)] = None,
    include_expired: bool = False,
    mode: Mode = "hybrid",
    format: Annotated[Format, Query(description="plain, markdown or html")] = Format.PLAIN,
) -> schemas.SearchOut:
    """Best first, with confidence, the matched field highlighted and freshness; internal content included."""
    started = time.perf_counter()
    result = runtime.search(
        q.strip(),
        channel=Channel.AGENT,
        k=k,
        mode=mode,
        category=category,
        package=package,
        tags=tags or None,
        include_expired=include_expired,
        now=now,
    )
    took_ms = (time.perf_counter() - started) * 1000
    log_id = log_search(
        session, runtime, channel=Channel.AGENT.value, query=q, result=result, latency_ms=took_ms
    )
    return views.search_out(
        q, result, Channel.AGENT, mode, format, now=now, took_ms=took_ms, query_log_id=log_id
    )


@router.post("/suggest", summary="Suggestions for the last customer turn of a transcript")
def suggest(
    body: schemas.SuggestIn,
    runtime: RuntimeDep,
    session: DbSession,
    _user: Searcher,
    now: Now,
) -> schemas.SuggestOut:
    started = time.perf_counter()
    turn = next(
        (
            i
            for i in range(len(body.transcript) - 1, -1, -1)
            if body.transcript[i].role == "customer"
        ),
        None,
    )
    if turn is None:
        raise ValidationFailed.one(
            "the transcript has no customer turn to answer", field="transcript", value=None
        )
    query = body.transcript[turn].text.strip()[: limits.MAX_QUERY_CHARS]
    if not query:
        raise ValidationFailed.one(
            "the last customer turn is empty", field=f"transcript.{turn}.text", value=""
        )
    result = runtime.search(
        query,
        channel=Channel.AGENT,
        k=body.k,
        mode="hybrid",
        category=body.category,
        package=body.package,
        tags=None,
        include_expired=False,
        now=now,
    )
    took_ms = (time.perf_counter() - started) * 1000
    log_id = log_search(
        session,
        runtime,
        channel=Channel.AGENT.value,
        query=query,
        result=result,
        latency_ms=took_ms,
    )
    out = views.search_out(
        query,
        result,
        Channel.AGENT,
        "hybrid",
        Format(body.format),
        now=now,
        took_ms=took_ms,
        query_log_id=log_id,
    )
    return schemas.SuggestOut(**out.model_dump(), turn=turn)


@router.post(
    "/flags",
    status_code=201,
    summary="Flag a live table as wrong, outdated, unclear or a duplicate",
)
def raise_flag(body: schemas.FlagIn, session: DbSession, user: CurrentUser) -> schemas.FlagOut:
    """The table goes to the reviewers' flagged queue."""
    return views.flag_out(flags.raise_flag(session, user, body.code, body.reason, body.comment))


@router.post("/feedback", status_code=201, summary="Vote a suggestion helpful or not helpful")
def vote(
    body: schemas.FeedbackIn, runtime: RuntimeDep, session: DbSession, _user: Searcher
) -> schemas.FeedbackOut:
    table = tables.get_table(session, body.code) if body.code else None
    entry = feedback.record_vote(
        session,
        channel=Channel.AGENT.value,
        table=table,
        helpful=body.helpful,
        query=body.query,
        query_log_id=body.query_log_id,
    )
    after_commit(session, runtime.refresh_feedback)
    return schemas.FeedbackOut(id=entry.id, code=body.code, helpful=entry.helpful)
