"""Helpful / not-helpful votes on a suggestion, counted per table."""

from __future__ import annotations

from sqlalchemy.orm import Session

from kb.clock import utcnow
from kb.errors import ValidationFailed
from kb.models import Feedback, KnowledgeTable, QueryLogEntry
from kb.querylog import usage_row
from kb.visibility import Channel


def record_vote(
    session: Session,
    *,
    channel: str,
    table: KnowledgeTable | None,
    helpful: bool,
    query: str = "",
    query_log_id: int | None = None,
) -> Feedback:
    """Store a vote; a vote on no table (nothing fitted) is kept as a knowledge-gap signal."""
    if channel not in {c.value for c in Channel}:
        raise ValidationFailed.one(
            "channel must be agent or customer", field="channel", value=channel
        )
    if query_log_id is not None and session.get(QueryLogEntry, query_log_id) is None:
        raise ValidationFailed.one(
            f"no logged query with id {query_log_id}", field="query_log_id", value=query_log_id
        )
    vote = Feedback(
        at=utcnow(),
        channel=channel,
        query=query[:500],
        table_id=table.id if table is not None else None,
        helpful=helpful,
        query_log_id=query_log_id,
    )
    session.add(vote)
    if table is not None:
        usage = usage_row(session, table.id)
        if helpful:
            usage.helpful += 1
        else:
            usage.not_helpful += 1
    session.flush()
    return vote
