"""Helpful / not-helpful votes on a suggestion, counted per table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.clock import utcnow
from kb.errors import ValidationFailed
from kb.models import Feedback, KnowledgeTable, QueryLogEntry
from kb.querylog import count_usage
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
    session.flush()
    if table is not None:
        count_usage(session, table.id, helpful=int(helpful), not_helpful=int(not helpful))
    return vote


@dataclass(frozen=True)
class CastVote:
    """A vote on a table as ranking needs it: the query it was given on, when, from whom."""

    id: int
    query: str
    table_id: int
    helpful: bool
    at: datetime
    channel: str


def votes_on_tables(session: Session, *, since: datetime, after_id: int = 0) -> list[CastVote]:
    """Votes on a table cast at or after ``since`` with an id above ``after_id``, oldest first.

    A vote sent without its query text takes the text of the logged search it refers to.
    """
    rows = session.execute(
        select(
            Feedback.id,
            Feedback.query,
            QueryLogEntry.query,
            Feedback.table_id,
            Feedback.helpful,
            Feedback.at,
            Feedback.channel,
        )
        .outerjoin(QueryLogEntry, Feedback.query_log_id == QueryLogEntry.id)
        .where(Feedback.table_id.is_not(None), Feedback.at >= since, Feedback.id > after_id)
        .order_by(Feedback.id)
    ).all()
    return [
        CastVote(
            id=vote_id,
            query=query or logged or "",
            table_id=table_id,
            helpful=helpful,
            at=at,
            channel=channel,
        )
        for vote_id, query, logged, table_id, helpful, at, channel in rows
        if table_id is not None  # the query asked for these only; this tells the type checker
    ]


# Agents' votes self-tuning judges its first suggestion by, most recent first, at most this many.
VERDICT_VOTES = 20_000


def agents_verdicts(session: Session) -> list[tuple[str, int | None, bool]]:
    """(query, table id or None, helpful) of the agents' votes, most recent first: what
    self-tuning fits confidence on besides the golden set (:func:`indexer.pseudo.voted`).

    Agents are staff who read the suggestions they vote on; customers' votes are anonymous and
    left out. A not-helpful vote on no table says that nothing shown fitted. A vote sent
    without its query text takes the text of the logged search it refers to.
    """
    rows = session.execute(
        select(Feedback.query, QueryLogEntry.query, Feedback.table_id, Feedback.helpful)
        .outerjoin(QueryLogEntry, Feedback.query_log_id == QueryLogEntry.id)
        .where(Feedback.channel == Channel.AGENT.value)
        .order_by(Feedback.id.desc())
        .limit(VERDICT_VOTES)
    ).all()
    return [
        (query or logged or "", table_id, helpful)
        for query, logged, table_id, helpful in rows
        if (query or logged)
    ]
