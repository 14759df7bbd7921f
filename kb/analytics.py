"""Usage and quality figures for the admin dashboard."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.hierarchy import package_path
from kb.models import Feedback, KnowledgeTable, QueryLogEntry, TableUsage, User
from kb.permissions import in_scope
from kb.visibility import expires_at


@dataclass
class StaleButUsed:
    code: str
    title: str
    hits: int
    expires_at: datetime | None
    expired: bool
    package: str = ""


def daily_summary(
    session: Session, *, since: datetime, zone: tzinfo = UTC, until: datetime | None = None
) -> list[dict[str, object]]:
    """Per day in ``zone``: searches, abstention rate, helpful rate.

    With ``until`` every day from ``since`` to ``until`` is listed, quiet ones with 0 searches
    (a chart needs the gaps); without it only days that had searches or votes.
    """
    days: dict[str, dict[str, int]] = {}
    if until is not None:
        day, last = since.astimezone(zone).date(), until.astimezone(zone).date()
        while day <= last:
            days[day.isoformat()] = Counter()
            day += timedelta(days=1)
    for entry in session.scalars(select(QueryLogEntry).where(QueryLogEntry.at >= since)):
        day_row = days.setdefault(entry.at.astimezone(zone).date().isoformat(), Counter())
        day_row["searches"] += 1
        day_row["abstained"] += int(entry.abstained)
    for vote in session.scalars(select(Feedback).where(Feedback.at >= since)):
        day_row = days.setdefault(vote.at.astimezone(zone).date().isoformat(), Counter())
        day_row["votes"] += 1
        day_row["helpful"] += int(vote.helpful)
    rows: list[dict[str, object]] = []
    for date in sorted(days):
        d = days[date]
        rows.append(
            {
                "date": date,
                "searches": d["searches"],
                "abstention_rate": round(d["abstained"] / d["searches"], 4)
                if d["searches"]
                else None,
                "helpful_rate": round(d["helpful"] / d["votes"], 4) if d["votes"] else None,
            }
        )
    return rows


def top_queries(session: Session, *, since: datetime, limit: int = 20) -> list[tuple[str, int]]:
    counts = Counter(
        q.strip()
        for q in session.scalars(select(QueryLogEntry.query).where(QueryLogEntry.at >= since))
    )
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


@dataclass
class TopQuery:
    query: str
    count: int
    abstained: int  # how many of those searches gave no confident answer
    top_code: str | None  # the table most often suggested first for it (None: never answered)


def top_query_rows(session: Session, *, since: datetime, limit: int = 20) -> list[TopQuery]:
    """The most frequent queries, with how often they went unanswered and what answered them."""
    counts: Counter[str] = Counter()
    abstained: Counter[str] = Counter()
    answers: dict[str, Counter[str]] = {}
    for entry in session.scalars(select(QueryLogEntry).where(QueryLogEntry.at >= since)):
        text = entry.query.strip()
        counts[text] += 1
        if entry.abstained or not entry.results:
            abstained[text] += 1
        else:
            answers.setdefault(text, Counter())[str(entry.results[0]["code"])] += 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [
        TopQuery(
            query=text,
            count=count,
            abstained=abstained[text],
            top_code=min(answers[text].items(), key=lambda kv: (-kv[1], kv[0]))[0]
            if text in answers
            else None,
        )
        for text, count in ranked
    ]


@dataclass
class Totals:
    searches: int
    abstained: int
    abstention_rate: float | None
    votes: int
    helpful: int
    helpful_rate: float | None
    distinct_queries: int


def totals(session: Session, *, since: datetime) -> Totals:
    """The whole window in a few numbers."""
    entries = session.scalars(select(QueryLogEntry).where(QueryLogEntry.at >= since)).all()
    votes = session.scalars(select(Feedback.helpful).where(Feedback.at >= since)).all()
    searches = len(entries)
    abstained = sum(1 for e in entries if e.abstained)
    helpful = sum(1 for v in votes if v)
    return Totals(
        searches=searches,
        abstained=abstained,
        abstention_rate=round(abstained / searches, 4) if searches else None,
        votes=len(votes),
        helpful=helpful,
        helpful_rate=round(helpful / len(votes), 4) if votes else None,
        distinct_queries=len({e.query.strip() for e in entries}),
    )


def stale_but_used(
    session: Session,
    *,
    now: datetime,
    within_days: int = 14,
    min_hits: int = 5,
    user: User | None = None,
) -> list[StaleButUsed]:
    """Heavily used tables that are expired or expire within ``within_days``, busiest first.

    Given a user, only tables in their scopes.
    """
    rows = session.execute(
        select(KnowledgeTable, TableUsage.hits)
        .join(TableUsage, TableUsage.table_id == KnowledgeTable.id)
        .where(TableUsage.hits >= min_hits, KnowledgeTable.live_revision_id.is_not(None))
    ).all()
    horizon = now + timedelta(days=within_days)
    found = []
    for table, hits in rows:
        if user is not None and not in_scope(user, table.package):
            continue
        end = expires_at(table)
        if end is not None and end <= horizon:
            found.append(
                StaleButUsed(
                    table.code, table.title, hits, end, end <= now, package_path(table.package)
                )
            )
    found.sort(key=lambda s: (-s.hits, s.code))
    return found
