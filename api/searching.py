"""Running a search for a request and writing it to the query log in the request's transaction."""

from __future__ import annotations

from sqlalchemy.orm import Session

from api.runtime import Runtime
from kb import querylog
from kb.search_contract import SearchResult


def log_search(
    session: Session,
    runtime: Runtime,
    *,
    query: str,
    result: SearchResult,
    latency_ms: float,
    client: str | None = None,
) -> int | None:
    """The query-log id of this search (None when logging is off, or when skipped).

    ``query``: as the caller asked it; ``result``: as shown (:func:`presenters.results.as_shown`).

    With ``client`` (anonymous searches), a query that client already asked within
    ``query_log_repeat_s`` is not logged again: one client cannot push a query up the
    dashboard's top queries, or inflate a table's hits, by repeating it.

    The log entry and the hit count are a search's only writes, and they are committed here:
    SQLite's one writer lock is then held for these two statements, not for the rest of the
    request (concurrent searches queued behind it: p99 1.4 s at 8 clients on the demo KB, 0.3 s
    with the commit here). Call it after the request's reads.
    """
    normalized = result.normalized
    window = runtime.settings.query_log_repeat_s
    if client is not None and not runtime.limiter.first_time(normalized or query, client, window):
        return None
    entry = querylog.log_search(
        session,
        enabled=runtime.settings.query_log_enabled,
        channel=result.channel.value,
        query=query,
        normalized=normalized,
        results=[
            querylog.LoggedResult(s.code, s.table_id, s.confidence) for s in result.suggestions
        ],
        abstained=result.abstained,
        latency_ms=latency_ms,
    )
    log_id = entry.id if entry is not None else None  # flushed: read before commit expires it
    session.commit()
    return log_id
