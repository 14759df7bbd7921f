"""The labels self-tuning fits confidence on, read at once, and how many came since a tuning.

Two kinds: the golden set's confirmed queries (:func:`kb.golden.confirmed_pairs`) and the
agents' votes (:func:`kb.feedback.agents_verdicts`); with them, the query log's recent
questions (:func:`kb.querylog.questions`), which label nothing but show what users ask. A
tuning records where they stood (:class:`LabelMark`: the newest of each it read);
:func:`new_since` counts what was added after, so that a KB whose agents keep voting is tuned
again on their votes without waiting for an edit.
The mark also keeps the query log's newest entry: :func:`logged_since` counts the searches
logged after it (a KB tuned before it had a log worth comparing is tuned again once it has).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from kb import feedback, golden, querylog
from kb.models import Feedback, GoldenQuery, QueryLogEntry
from kb.visibility import Channel


@dataclass(frozen=True)
class LabelMark:
    """Where the labels stood when they were read: the newest agent vote's, golden query's and
    query log entry's ids (0: none), and how many labels were read."""

    vote_id: int = 0
    golden_id: int = 0
    read: int = 0
    log_id: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "vote_id": self.vote_id,
            "golden_id": self.golden_id,
            "read": self.read,
            "log_id": self.log_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object] | None) -> LabelMark:
        """The mark a tuning recorded; an index tuned before marks were kept reads as 0 (every
        label is new to it)."""
        values = data or {}
        return cls(
            vote_id=_int(values.get("vote_id")),
            golden_id=_int(values.get("golden_id")),
            read=_int(values.get("read")),
            log_id=_int(values.get("log_id")),
        )


@dataclass(frozen=True)
class Labels:
    """The golden set's (query, table id) pairs and the agents' votes, with where they stood."""

    confirmed: list[tuple[str, int]]
    votes: list[tuple[str, int | None, bool]]
    mark: LabelMark
    logged: list[str] = field(default_factory=list)


def read(
    session: Session,
    *,
    confirmed: Sequence[tuple[str, int]] | None = None,
    votes: Sequence[tuple[str, int | None, bool]] | None = None,
    logged: Sequence[str] | None = None,
) -> Labels:
    """Every label self-tuning fits on, the logged questions, and the mark of what was read;
    ``confirmed``, ``votes`` and ``logged``, where given, stand for what the database holds of
    each (``kb eval`` tunes on the queries it does not measure). The mark is taken first: a
    label committed meanwhile is read and counted as new once more (at worst one re-tune
    early), never marked as read without having been."""
    at = mark(session)
    pairs = golden.confirmed_pairs(session) if confirmed is None else list(confirmed)
    verdicts = feedback.agents_verdicts(session) if votes is None else list(votes)
    questions = querylog.questions(session) if logged is None else list(logged)
    return Labels(pairs, verdicts, replace(at, read=len(pairs) + len(verdicts)), questions)


def mark(session: Session, read: int = 0) -> LabelMark:
    """Where the labels stand now, for a tuning that read ``read`` of them (take it before
    reading them)."""
    vote_id, golden_id, log_id = session.execute(
        select(
            select(func.max(Feedback.id)).where(_agents()).scalar_subquery(),
            select(func.max(GoldenQuery.id)).scalar_subquery(),
            select(func.max(QueryLogEntry.id)).scalar_subquery(),
        )
    ).one()
    return LabelMark(int(vote_id or 0), int(golden_id or 0), read, int(log_id or 0))


def new_since(session: Session, mark: LabelMark) -> int:
    """Agents' votes and golden queries added after ``mark`` (two counts on primary keys)."""
    votes, confirmed = session.execute(
        select(
            select(func.count(Feedback.id))
            .where(_agents(), Feedback.id > mark.vote_id)
            .scalar_subquery(),
            select(func.count(GoldenQuery.id))
            .where(GoldenQuery.id > mark.golden_id)
            .scalar_subquery(),
        )
    ).one()
    return int(votes) + int(confirmed)


def logged_since(session: Session, mark: LabelMark, *, at_most: int) -> int:
    """Searches logged after ``mark``, counted up to ``at_most`` (a server asks at every sweep,
    and a busy log holds millions: only whether there are enough is needed)."""
    newer = select(QueryLogEntry.id).where(QueryLogEntry.id > mark.log_id).limit(at_most)
    count = session.scalar(select(func.count()).select_from(newer.subquery()))
    return int(count or 0)


def _agents() -> ColumnElement[bool]:
    return Feedback.channel == Channel.AGENT.value


def _int(value: object) -> int:
    return value if isinstance(value, int) and value >= 0 else 0
