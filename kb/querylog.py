"""The query log: every search, with what it returned, for gap finding and analytics.

Only the query text is kept about the person asking (no user id, no IP); entries older than
the retention setting are purged. Logging can be switched off (ZHIKU_QUERY_LOG_ENABLED=false).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import cast

from sqlalchemy import Table, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.dml import Insert

from kb.clock import utcnow
from kb.models import QueryLogEntry, TableUsage

MAX_QUERY_CHARS = 500
QUESTIONS_READ = 2000  # distinct logged questions read for self-tuning, newest first …
SCANNED_PER_QUESTION = 10  # … among this many times as many of the newest entries


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
        count_usage(session, results[0].table_id, hits=1, hit_at=when)
    session.flush()
    return entry


def count_usage(
    session: Session,
    table_id: int,
    *,
    hits: int = 0,
    helpful: int = 0,
    not_helpful: int = 0,
    hit_at: datetime | None = None,
) -> None:
    """Add to a table's usage counters in one statement, creating its row when missing.

    ``INSERT … ON CONFLICT DO UPDATE SET n = n + excluded.n`` (PostgreSQL and SQLite): two
    requests counting at once both count, where reading the row and writing ``n + 1`` back
    loses one of them, and the first two votes on a table cannot both try to create its row.
    """
    session.execute(
        _usage_upsert(session.get_bind().dialect.name),
        {
            "table_id": table_id,
            "hits": hits,
            "helpful": helpful,
            "not_helpful": not_helpful,
            "last_hit_at": hit_at,
        },
    )
    cached = session.identity_map.get(identity_key(TableUsage, (table_id,)))
    if cached is not None:
        session.expire(cached)  # the row changed behind the ORM's back


@cache
def _usage_upsert(dialect: str) -> Insert:
    """:func:`count_usage`'s statement for ``dialect``, built once: building it (its
    ``excluded`` alias above all) cost 0.3 ms a search, eight times its execution."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # The table, not the mapped class: the session runs it as a plain statement, no ORM insert.
    stmt = insert(cast(Table, TableUsage.__table__))
    return stmt.on_conflict_do_update(
        index_elements=[TableUsage.table_id],
        set_={
            "hits": TableUsage.hits + stmt.excluded.hits,
            "helpful": TableUsage.helpful + stmt.excluded.helpful,
            "not_helpful": TableUsage.not_helpful + stmt.excluded.not_helpful,
            "last_hit_at": func.coalesce(stmt.excluded.last_hit_at, TableUsage.last_hit_at),
        },
    )


def purge(session: Session, *, retention_days: int, now: datetime | None = None) -> int:
    """Delete log entries older than the retention window; returns how many went."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    result = session.execute(delete(QueryLogEntry).where(QueryLogEntry.at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


def questions(session: Session, *, limit: int = QUESTIONS_READ) -> list[str]:
    """The newest ``limit`` distinct question texts of the log (any channel), newest first:
    what self-tuning compares its pseudo-queries with (indexer.resemblance)."""
    window = (  # a large log is not scanned whole: its newest entries hold enough
        select(QueryLogEntry.id, QueryLogEntry.query)
        .order_by(QueryLogEntry.id.desc())
        .limit(SCANNED_PER_QUESTION * limit)
        .subquery()
    )
    rows = session.execute(
        select(window.c.query)
        .group_by(window.c.query)
        .order_by(func.max(window.c.id).desc())
        .limit(limit)
    )
    return [text for (text,) in rows]


def recent(session: Session, *, since: datetime, channel: str | None = None) -> list[QueryLogEntry]:
    stmt = select(QueryLogEntry).where(QueryLogEntry.at >= since).order_by(QueryLogEntry.at)
    if channel:
        stmt = stmt.where(QueryLogEntry.channel == channel)
    return list(session.scalars(stmt))
