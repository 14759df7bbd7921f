"""Admin endpoints for usage and quality: usage per table, stale-but-used, the dashboard."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from api import limits
from api import schemas_loop as out
from api.deps import DbSession, Now, RuntimeDep, require
from api.errors import documented
from api.inputs import MAX_INT, PageNumber
from kb import analytics, dashboard, gaps, usage
from kb.bounds import MAX_DAYS
from kb.models import User
from kb.permissions import Action

router = APIRouter(
    prefix="/api/admin", tags=["admin: usage and gaps"], responses=documented(401, 403, 429)
)

Reader = Annotated[User, Depends(require(Action.VIEW_QUEUES))]
Days = Annotated[int, Query(ge=1, le=out.MAX_GAP_DAYS, description="Look at the last N days")]


def usage_row_out(row: usage.UsageRow) -> out.UsageRowOut:
    return out.UsageRowOut.model_validate(row, from_attributes=True)


def stale_out(item: analytics.StaleButUsed) -> out.StaleItemOut:
    return out.StaleItemOut.model_validate(item, from_attributes=True)


def gap_out(n: int, cluster: gaps.GapCluster) -> out.GapOut:
    return out.GapOut(
        n=n,
        name=cluster.name,
        volume=cluster.volume,
        queries=[out.QueryCount(query=q, count=cluster.counts.get(q, 0)) for q in cluster.queries],
    )


@router.get("/usage", summary="Usage per table: hits, last hit, votes, flags; sortable, paged")
def list_usage(
    session: DbSession,
    user: Reader,
    now: Now,
    sort: Annotated[
        str, Query(description=f"One of: {', '.join(usage.SORTS)}", max_length=20)
    ] = "hits",
    order: Literal["desc", "asc"] = "desc",
    page: PageNumber = 1,
    page_size: Annotated[int, Query(ge=1, le=limits.MAX_PAGE_SIZE)] = 50,
) -> out.UsageList:
    """Live tables, and tables used while they were live, in your scopes."""
    rows = usage.usage_rows(session, now=now, user=user, sort=sort, descending=order == "desc")
    start = (page - 1) * page_size
    return out.UsageList(
        total=len(rows),
        page=page,
        page_size=page_size,
        sort=sort,
        order=order,
        rows=[usage_row_out(r) for r in rows[start : start + page_size]],
    )


@router.get(
    "/usage/{code}",
    summary="One table's usage, with the queries that brought it up",
    responses=documented(404),
)
def table_usage(
    code: str, session: DbSession, user: Reader, now: Now, days: Days = 30
) -> out.UsageDetailOut:
    detail = usage.table_usage(session, code, now=now, since=now - timedelta(days=days), user=user)
    return out.UsageDetailOut(
        usage=usage_row_out(detail.row),
        days=days,
        queries=[out.QueryCount(query=q, count=n) for q, n in detail.queries],
        open_flags=[out.UsageFlagOut.model_validate(f) for f in detail.open_flags],
    )


@router.get(
    "/stale-but-used",
    summary="Heavily used tables that are expired or expire soon, busiest first",
)
def stale_but_used(
    session: DbSession,
    user: Reader,
    now: Now,
    within_days: Annotated[
        int, Query(ge=0, le=MAX_DAYS, description="Expiring within N days")
    ] = 14,
    min_hits: Annotated[int, Query(ge=1, le=MAX_INT, description="At least this many hits")] = 5,
) -> out.StaleList:
    items = analytics.stale_but_used(
        session, now=now, within_days=within_days, min_hits=min_hits, user=user
    )
    return out.StaleList(
        within_days=within_days,
        min_hits=min_hits,
        count=len(items),
        items=[stale_out(i) for i in items],
    )


@router.get(
    "/dashboard",
    summary="Searches per day, abstention and helpful rates, top queries, top gaps, stale-but-used, "
    "agents' helpful answers not yet in the golden set",
)
def get_dashboard(
    session: DbSession,
    user: Reader,
    runtime: RuntimeDep,
    now: Now,
    days: Days = 30,
    top: Annotated[int, Query(ge=1, le=50, description="Rows of the top lists")] = 10,
    threshold: Annotated[
        float, Query(ge=0.0, le=1.0, description="Cosine similarity that joins a gap cluster")
    ] = 0.9,
) -> out.DashboardOut:
    """Days are in ZHIKU_TIMEZONE; quiet days are listed with 0 searches."""
    board = dashboard.build(
        session,
        runtime.embed_queries,
        now=now,
        zone=runtime.settings.zone,
        options=dashboard.DashboardOptions(days=days, top=top, threshold=threshold),
        user=user,
    )
    return out.DashboardOut(
        days=board.days,
        since=board.since,
        now=board.now,
        totals=out.TotalsOut.model_validate(board.totals, from_attributes=True),
        daily=[out.DayOut.model_validate(d) for d in board.daily],
        top_queries=[
            out.TopQueryOut.model_validate(q, from_attributes=True) for q in board.top_queries
        ],
        top_gaps=[gap_out(i, c) for i, c in enumerate(board.top_gaps, 1)],
        gap_count=board.gap_count,
        stale_but_used=[stale_out(s) for s in board.stale_but_used],
        endorsed=[out.EndorsedOut.model_validate(e, from_attributes=True) for e in board.endorsed],
    )
