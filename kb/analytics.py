"""Usage and quality figures for the admin dashboard."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.models import Feedback, KnowledgeTable, QueryLogEntry, TableUsage
from kb.visibility import expires_at


@dataclass
class StaleButUsed:
    code: str
    title: str
    hits: int
    expires_at: datetime | None
    expired: bool


def daily_summary(session: Session, *, since: datetime) -> list[dict[str, object]]:
    """Per UTC day: searches, abstention rate, helpful rate."""
    days: dict[str, dict[str, int]] = {}
    for entry in session.scalars(select(QueryLogEntry).where(QueryLogEntry.at >= since)):
        day = days.setdefault(entry.at.date().isoformat(), Counter())
        day["searches"] += 1
        day["abstained"] += int(entry.abstained)
    for vote in session.scalars(select(Feedback).where(Feedback.at >= since)):
        day = days.setdefault(vote.at.date().isoformat(), Counter())
        day["votes"] += 1
        day["helpful"] += int(vote.helpful)
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


def stale_but_used(
    session: Session, *, now: datetime, within_days: int = 14, min_hits: int = 5
) -> list[StaleButUsed]:
    """Heavily used tables that are expired or expire within ``within_days``, busiest first."""
    rows = session.execute(
        select(KnowledgeTable, TableUsage.hits)
        .join(TableUsage, TableUsage.table_id == KnowledgeTable.id)
        .where(TableUsage.hits >= min_hits, KnowledgeTable.live_revision_id.is_not(None))
    ).all()
    horizon = now + timedelta(days=within_days)
    found = []
    for table, hits in rows:
        end = expires_at(table)
        if end is not None and end <= horizon:
            found.append(StaleButUsed(table.code, table.title, hits, end, end <= now))
    found.sort(key=lambda s: (-s.hits, s.code))
    return found
