"""The admin dashboard's figures in one object: the API serves it, the desk draws it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from sqlalchemy.orm import Session

from kb import analytics, gaps, golden
from kb.models import User


@dataclass
class Dashboard:
    days: int
    since: datetime
    now: datetime
    totals: analytics.Totals
    daily: list[dict[str, object]]
    top_queries: list[analytics.TopQuery]
    top_gaps: list[gaps.GapCluster]
    gap_count: int
    stale_but_used: list[analytics.StaleButUsed]
    endorsed: list[golden.Endorsed]  # agents' helpful answers, not yet in the golden set


@dataclass(frozen=True)
class DashboardOptions:
    days: int = 30
    top: int = 10  # rows of the top-queries and top-gaps lists
    threshold: float = 0.9  # cosine similarity that joins a gap cluster
    confidence_floor: float = gaps.DEFAULT_FLOOR
    stale_within_days: int = 14
    stale_min_hits: int = 5


def build(
    session: Session,
    embed: gaps.Embed,
    *,
    now: datetime,
    zone: tzinfo = UTC,
    options: DashboardOptions = DashboardOptions(),
    user: User | None = None,
) -> Dashboard:
    """Searches per day, abstention and helpful rates, top queries, top gaps, stale-but-used,
    and the queries agents voted answered that a reviewer may add to the golden set.

    Given a user, stale-but-used keeps to their scopes (the log itself is not per package).
    """
    since = now - timedelta(days=options.days)
    clusters = gaps.find_clusters(
        session,
        embed,
        since=since,
        threshold=options.threshold,
        confidence_floor=options.confidence_floor,
    )
    return Dashboard(
        days=options.days,
        since=since,
        now=now,
        totals=analytics.totals(session, since=since),
        daily=analytics.daily_summary(session, since=since, zone=zone, until=now),
        top_queries=analytics.top_query_rows(session, since=since, limit=options.top),
        top_gaps=clusters[: options.top],
        gap_count=len(clusters),
        stale_but_used=analytics.stale_but_used(
            session,
            now=now,
            within_days=options.stale_within_days,
            min_hits=options.stale_min_hits,
            user=user,
        ),
        endorsed=golden.endorsed(session, since=since, limit=options.top),
    )
