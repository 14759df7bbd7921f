"""Agent endpoints: suggested answers for a question or a transcript, the whole entry of a live
table, flags and votes."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api import limits, schemas, schemas_agent, views
from api.deps import CurrentUser, DbSession, Now, RuntimeDep, after_commit, require
from api.errors import documented
from api.presenting import FORMAT_HELP, AnswerFormat
from api.searching import log_search
from kb import agent_view, feedback, flags, repository, tables
from kb.clock import utcnow
from kb.errors import ValidationFailed
from kb.models import User
from kb.permissions import Action
from kb.search_contract import Scope, SearchRequest, SearchResult
from kb.visibility import Channel
from presenters import options_from
from presenters.results import as_shown
from presenters.search_json import search_json

router = APIRouter(prefix="/api", tags=["agent"], responses=documented(401, 403, 429))

Searcher = Annotated[User, Depends(require(Action.SEARCH))]
Mode = Annotated[str, Query(pattern="^(hybrid|bm25|dense)$", description="hybrid, bm25 or dense")]
FormatQ = Annotated[AnswerFormat, Query(description=FORMAT_HELP)]
RenderingsQ = Annotated[
    bool,
    Query(
        description="Add every output channel's rendering of the answer (and, for a question "
        "in Traditional Chinese, the same in Traditional): what the console copies"
    ),
]


@router.get("/search", summary="Suggested answers for an agent's question")
def search(
    runtime: RuntimeDep,
    session: DbSession,
    user: Searcher,
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
    format: FormatQ = AnswerFormat.PLAIN,
    renderings: RenderingsQ = False,
) -> schemas.SearchOut:
    """Best first by the confidence shown, with the matched field highlighted and freshness;
    internal content included. `rank` is each suggestion's place in the retriever's order."""
    started = time.perf_counter()
    request = SearchRequest(
        q.strip(),
        Channel.AGENT,
        k=k,
        mode=mode,
        scope=Scope(category, package, tuple(tags or ())),
        include_expired=include_expired,
        at=now,
    )
    result = runtime.search(request)
    return _answer(runtime, session, user, request, result, format, renderings, started=started)


@router.get("/search/categories", summary="The categories a search can be scoped to")
def search_categories(session: DbSession, _user: Searcher) -> list[str]:
    """Names of the categories that hold a live table, in the knowledge tree's order: the
    console's scope choices, given to a signed-in user only (a category's name alone can tell
    of internal or unpublished business)."""
    return list(repository.live_category_names(session))


def _answer(
    runtime: RuntimeDep,
    session: DbSession,
    user: User,
    request: SearchRequest,
    result: SearchResult,
    fmt: AnswerFormat,
    renderings: bool,
    *,
    started: float,
) -> schemas.SearchOut:
    """Log the search as shown, and build the response with the caller's own open flags."""
    shown = as_shown(result)
    took_ms = (time.perf_counter() - started) * 1000
    mine = agent_view.open_flags_by(session, user.name, [s.code for s in shown.suggestions])
    # Last: logging commits (api.searching.log_search), and the flags are read before it.
    log_id = log_search(session, runtime, query=request.query, result=shown, latency_ms=took_ms)
    return search_json(
        shown,
        now=request.at or utcnow(),
        took_ms=took_ms,
        fmt=fmt,
        options=options_from(runtime.settings),
        renderings=renderings,
        traditional_variant=runtime.settings.traditional_variant,
        flags=mine,
        query_log_id=log_id,
    )


@router.post("/suggest", summary="Suggestions for the last customer turn of a transcript")
def suggest(
    body: schemas.SuggestIn,
    runtime: RuntimeDep,
    session: DbSession,
    user: Searcher,
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
    request = SearchRequest(
        query, Channel.AGENT, k=body.k, scope=Scope(body.category, body.package), at=now
    )
    out = _answer(
        runtime,
        session,
        user,
        request,
        runtime.search(request),
        AnswerFormat(body.format),
        body.renderings,
        started=started,
    )
    return schemas.SuggestOut(**out.model_dump(), turn=turn)


@router.get(
    "/tables/{code}",
    summary="The whole entry of a live table, for agents",
    responses=documented(404),
)
def agent_table(
    code: str,
    runtime: RuntimeDep,
    session: DbSession,
    user: Searcher,
    now: Now,
    format: Annotated[
        AnswerFormat,
        Query(
            description="plain, markdown or html: how field values are given; or an output "
            "channel (agent, web, sms, wechat, voice): fields in plain text and `rendering`, "
            "the answer as that channel sends it"
        ),
    ] = AnswerFormat.PLAIN,
    renderings: RenderingsQ = False,
    traditional: Annotated[
        bool,
        Query(
            description="Traditional Chinese (OpenCC): the channel's `rendering` converted, and "
            "with renderings=true a converted set in `traditional`"
        ),
    ] = False,
) -> schemas_agent.AgentTableOut:
    """Every field (内部 ones too), related tables, path and validity of the live revision;
    stale tables are returned marked `expired`. 404 for drafts and archived tables."""
    table = agent_view.live_table(session, code, now)
    mine = agent_view.open_flags_by(session, user.name, [table.code]).get(table.code, [])
    settings = runtime.settings
    return views.agent_table(
        table,
        format,
        now,
        flags=mine,
        options=options_from(settings),
        renderings=renderings,
        traditional=settings.traditional_variant if traditional else None,
    )


@router.post(
    "/flags",
    status_code=201,
    summary="Flag a live table as wrong, outdated, unclear or a duplicate",
    responses=documented(404, 409),
)
def raise_flag(body: schemas.FlagIn, session: DbSession, user: CurrentUser) -> schemas.FlagOut:
    """The table goes to the reviewers' flagged queue."""
    return views.flag_out(flags.raise_flag(session, user, body.code, body.reason, body.comment))


@router.post(
    "/feedback",
    status_code=201,
    summary="Vote a suggestion helpful or not helpful",
    responses=documented(404),
)
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
