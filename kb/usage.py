"""Usage per table for the admin desk: hits, last hit, helpful votes and flags.

A *hit* is a logged search whose first suggestion was the table (see :mod:`kb.querylog`);
votes come from :mod:`kb.feedback`, flags from :mod:`kb.flags`. Rows cover every live table
and any other table that was used while it was live; given a user, only their scopes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from kb import tables, visibility, workflow
from kb.errors import ValidationFailed
from kb.hierarchy import package_path
from kb.models import Flag, KnowledgeTable, Package, QueryLogEntry, TableUsage, User
from kb.permissions import Action, check, in_scope


@dataclass
class UsageRow:
    code: str
    title: str
    package: str
    state: str  # status of the latest revision: published, draft, in_review, ...
    live: bool
    hits: int
    last_hit_at: datetime | None
    helpful: int
    not_helpful: int
    helpful_rate: float | None  # helpful / all votes; None without votes
    open_flags: int
    flags: int  # ever raised
    expires_at: datetime | None
    expired: bool


@dataclass
class UsageDetail:
    row: UsageRow
    queries: list[tuple[str, int]] = field(default_factory=list)  # that brought it up first
    open_flags: list[dict[str, Any]] = field(default_factory=list)


def _latest_first(value: datetime | None) -> float:
    return value.timestamp() if value is not None else float("-inf")


# Sort keys the API and the desk accept; each maps a row to a value (bigger = "more").
SORTS: dict[str, Callable[[UsageRow], Any]] = {
    "hits": lambda r: r.hits,
    "last_hit": lambda r: _latest_first(r.last_hit_at),
    "helpful": lambda r: r.helpful,
    "not_helpful": lambda r: r.not_helpful,
    "helpful_rate": lambda r: -1.0 if r.helpful_rate is None else r.helpful_rate,
    "flags": lambda r: (r.open_flags, r.flags),
    "expires": lambda r: _latest_first(r.expires_at),
    "code": lambda r: r.code,
}


def _flag_counts(session: Session) -> tuple[Counter[int], Counter[int]]:
    total: Counter[int] = Counter()
    still_open: Counter[int] = Counter()
    rows = session.execute(
        select(Flag.table_id, Flag.resolved_at.is_(None), func.count()).group_by(
            Flag.table_id, Flag.resolved_at.is_(None)
        )
    ).all()
    for table_id, is_open, count in rows:
        total[table_id] += count
        if is_open:
            still_open[table_id] += count
    return total, still_open


def _tables(session: Session, code: str | None = None) -> Sequence[KnowledgeTable]:
    query = (
        select(KnowledgeTable)
        .outerjoin(TableUsage, TableUsage.table_id == KnowledgeTable.id)
        .order_by(KnowledgeTable.code)
        .options(
            selectinload(KnowledgeTable.package).selectinload(Package.category),
            selectinload(KnowledgeTable.revisions),
            selectinload(KnowledgeTable.live_revision),
        )
    )
    if code is not None:
        return session.scalars(query.where(KnowledgeTable.code == code)).all()
    used = or_(KnowledgeTable.live_revision_id.is_not(None), TableUsage.hits > 0)
    return session.scalars(query.where(used)).all()


def _row(
    table: KnowledgeTable,
    usage: TableUsage | None,
    flags: tuple[Counter[int], Counter[int]],
    now: datetime,
) -> UsageRow:
    helpful = usage.helpful if usage else 0
    not_helpful = usage.not_helpful if usage else 0
    votes = helpful + not_helpful
    live = table.live_revision is not None
    end = visibility.expires_at(table) if live else None
    return UsageRow(
        code=table.code,
        title=table.title,
        package=package_path(table.package),
        state=workflow.status_of(table.latest_revision),
        live=live,
        hits=usage.hits if usage else 0,
        last_hit_at=usage.last_hit_at if usage else None,
        helpful=helpful,
        not_helpful=not_helpful,
        helpful_rate=round(helpful / votes, 4) if votes else None,
        open_flags=flags[1][table.id],
        flags=flags[0][table.id],
        expires_at=end,
        expired=end is not None and end <= now,
    )


def usage_rows(
    session: Session,
    *,
    now: datetime,
    user: User | None = None,
    sort: str = "hits",
    descending: bool = True,
) -> list[UsageRow]:
    """Usage of every table in the user's scopes, sorted by ``sort`` (ties by code)."""
    if sort not in SORTS:
        raise ValidationFailed.one(
            f"sort must be one of {', '.join(SORTS)}", field="sort", value=sort
        )
    if user is not None:
        check(user, Action.VIEW_QUEUES)
    usage = {u.table_id: u for u in session.scalars(select(TableUsage))}
    flags = _flag_counts(session)
    rows = [
        _row(t, usage.get(t.id), flags, now)
        for t in _tables(session)
        if user is None or in_scope(user, t.package)
    ]
    rows.sort(key=lambda r: r.code)  # sorting is stable: equal keys stay in code order
    rows.sort(key=SORTS[sort], reverse=descending)
    return rows


def table_usage(
    session: Session,
    code: str,
    *,
    now: datetime,
    since: datetime,
    user: User | None = None,
    limit: int = 20,
) -> UsageDetail:
    """One table's usage, with the logged queries (since ``since``) that brought it up first."""
    table = tables.get_table(session, code)
    if user is not None:
        check(user, Action.VIEW_QUEUES)
    usage = session.get(TableUsage, table.id)
    row = _row(table, usage, _flag_counts(session), now)
    asked: Counter[str] = Counter()
    entries = session.scalars(
        select(QueryLogEntry).where(QueryLogEntry.at >= since, QueryLogEntry.abstained.is_(False))
    )
    for entry in entries:
        if entry.results and entry.results[0].get("table_id") == table.id:
            asked[entry.query.strip()] += 1
    open_flags = session.scalars(
        select(Flag).where(Flag.table_id == table.id, Flag.resolved_at.is_(None)).order_by(Flag.id)
    )
    return UsageDetail(
        row=row,
        queries=sorted(asked.items(), key=lambda kv: (-kv[1], kv[0]))[:limit],
        open_flags=[
            {
                "id": f.id,
                "reason": f.reason,
                "comment": f.comment,
                "raised_by": f.raised_by,
                "raised_at": f.raised_at,
            }
            for f in open_flags
        ],
    )
