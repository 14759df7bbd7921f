"""The query log: every search, with what it returned, for gap finding and analytics.

Only the query text is kept about the person asking (no user id, no IP); entries older than
the retention setting are purged. Logging can be switched off (ZHIKU_QUERY_LOG_ENABLED=false).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kb.clock import utcnow
from kb.models import QueryLogEntry, TableUsage

MAX_QUERY_CHARS = 500


@dataclass(frozen=True)
class LoggedResult:
    code: str
    table_id: int
    confidence: float


def log_search(
    session: Session,
    *,
    enabled: bool,
    channel: str,
    query: str,
    normalized: str,
    results: list[LoggedResult],
    abstained: bool,
    latency_ms: float,
    at: datetime | None = None,
) -> QueryLogEntry | None:
    """Record one search (and count a hit for its first suggestion); nothing when disabled."""
    if not enabled:
        return None
    when = at or utcnow()
    entry = QueryLogEntry(
        at=when,
        channel=channel,
        query=query[:MAX_QUERY_CHARS],
        normalized=normalized[:MAX_QUERY_CHARS],
        results=[
            {"code": r.code, "table_id": r.table_id, "confidence": round(r.confidence, 4)}
            for r in results
        ],
        abstained=abstained,
        latency_ms=round(latency_ms, 2),
    )
    session.add(entry)
    if results and not abstained:
        usage = usage_row(session, results[0].table_id)
        usage.hits += 1
        usage.last_hit_at = when
    session.flush()
    return entry


def usage_row(session: Session, table_id: int) -> TableUsage:
    row = session.get(TableUsage, table_id)
    if row is None:
        row = TableUsage(table_id=table_id, hits=0, helpful=0, not_helpful=0)
        session.add(row)
    return row


def purge(session: Session, *, retention_days: int, now: datetime | None = None) -> int:
    """Delete log entries older than the retention window; returns how many went."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    result = session.execute(delete(QueryLogEntry).where(QueryLogEntry.at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


def recent(session: Session, *, since: datetime, channel: str | None = None) -> list[QueryLogEntry]:
    stmt = select(QueryLogEntry).where(QueryLogEntry.at >= since).order_by(QueryLogEntry.at)
    if channel:
        stmt = stmt.where(QueryLogEntry.channel == channel)
    return list(session.scalars(stmt))
