"""Request and response bodies of the loop endpoints: usage, gaps, dashboard, golden set."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from api import limits
from api.schemas import Page
from kb.bounds import MAX_DAYS

MAX_GAP_DAYS = MAX_DAYS


class UsageRowOut(BaseModel):
    code: str
    title: str
    package: str
    state: str = Field(description="Status of the latest revision: published, draft, in_review…")
    live: bool
    hits: int = Field(description="Logged searches whose first suggestion was this table")
    last_hit_at: datetime | None
    helpful: int
    not_helpful: int
    helpful_rate: float | None = Field(description="helpful / all votes; null without votes")
    open_flags: int
    flags: int = Field(description="Flags ever raised, open or resolved")
    expires_at: datetime | None
    expired: bool


class UsageList(Page):
    sort: str
    order: str
    rows: list[UsageRowOut]


class QueryCount(BaseModel):
    query: str
    count: int


class UsageFlagOut(BaseModel):
    id: int
    reason: str
    comment: str
    raised_by: str
    raised_at: datetime


class UsageDetailOut(BaseModel):
    usage: UsageRowOut
    days: int
    queries: list[QueryCount] = Field(
        description="Logged queries in the window whose first suggestion was this table"
    )
    open_flags: list[UsageFlagOut]


class StaleItemOut(BaseModel):
    code: str
    title: str
    package: str
    hits: int
    expires_at: datetime | None
    expired: bool


class StaleList(BaseModel):
    within_days: int
    min_hits: int
    count: int
    items: list[StaleItemOut]


class GapOut(BaseModel):
    n: int = Field(description="Cluster number, for the draft and attach actions")
    name: str = Field(description="The cluster's most central query")
    volume: int = Field(description="Searches and not-helpful votes that fell in the cluster")
    queries: list[QueryCount]


class GapList(BaseModel):
    days: int
    threshold: float
    floor: float
    total: int
    clusters: list[GapOut]


class GapWindow(BaseModel):
    """Which log the clusters come from; give the same values the list was loaded with."""

    days: int = Field(30, ge=1, le=MAX_GAP_DAYS)
    threshold: float = Field(0.9, ge=0.0, le=1.0)
    floor: float = Field(0.35, ge=0.0, le=1.0)
    expected_name: str | None = Field(
        None,
        max_length=limits.MAX_QUERY_CHARS,
        description="The cluster's name as the list showed it; refused (409) if it changed",
    )


class GapDraftIn(GapWindow):
    package: str = Field(min_length=1, max_length=201, description="'category/package'")
    code: str = Field(min_length=1, max_length=64)
    title: str = Field("", max_length=300, description="Default: the cluster's central query")
    answer: str = Field("", description="The standard answer (标准答复)")
    fields: dict[str, Any] = Field(
        default_factory=dict, description="Other template fields, by key or label"
    )


class GapAttachIn(GapWindow):
    to: str = Field(min_length=1, max_length=64, description="Code of the table to extend")


class GapActionOut(BaseModel):
    code: str
    revision: int
    state: str
    cluster: str
    questions: list[str]
    message: str


class TotalsOut(BaseModel):
    searches: int
    abstained: int
    abstention_rate: float | None
    votes: int
    helpful: int
    helpful_rate: float | None
    distinct_queries: int


class DayOut(BaseModel):
    date: str = Field(description="Day in ZHIKU_TIMEZONE, YYYY-MM-DD")
    searches: int
    abstention_rate: float | None
    helpful_rate: float | None


class TopQueryOut(BaseModel):
    query: str
    count: int
    abstained: int
    top_code: str | None = Field(description="Table most often suggested first for it")


class EndorsedOut(BaseModel):
    query: str
    code: str = Field(description="The table agents voted helpful for the query")
    title: str
    helpful: int = Field(description="Agents' helpful votes on it for this query")
    not_helpful: int
    last_at: datetime


class DashboardOut(BaseModel):
    days: int
    since: datetime
    now: datetime
    totals: TotalsOut
    daily: list[DayOut]
    top_queries: list[TopQueryOut]
    top_gaps: list[GapOut]
    gap_count: int
    stale_but_used: list[StaleItemOut]
    endorsed: list[EndorsedOut] = Field(
        description="Queries agents voted answered by a live table (more helpful votes than "
        "not), not yet in the golden set: pairs for a reviewer to confirm"
    )


class GoldenIn(BaseModel):
    query: str = Field(min_length=1, max_length=limits.MAX_QUERY_CHARS)
    code: str = Field(min_length=1, max_length=64, description="The table that answers it")


class GoldenOut(BaseModel):
    id: int
    query: str
    code: str
    title: str
    live: bool = Field(description="False once its table is archived: left out of the export")
    added_by: str
    added_at: datetime


class GoldenList(BaseModel):
    count: int
    items: list[GoldenOut]
