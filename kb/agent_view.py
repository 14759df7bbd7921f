"""What an agent may read of a table: the whole live revision, internal fields included.

Agents see every live table (public or internal), stale ones marked as such, with all fields of
the template they were written against, and the related tables that are live too. Drafts,
revisions in review and archived tables are the admin desk's business: reported as missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import tables
from kb.errors import NotFound
from kb.models import Audience, Flag, KnowledgeTable, Revision
from kb.portal import TableRef, template_of
from kb.templates import FieldType
from kb.visibility import expires_at, is_stale, not_yet_valid


@dataclass(frozen=True)
class AgentField:
    key: str
    label: str
    type: FieldType
    value: str | list[str]
    audience: str  # public | internal


@dataclass
class AgentTable:
    code: str
    title: str
    category: str
    package: str
    audience: str
    revision: int
    questions: list[str]
    tags: list[str]
    fields: list[AgentField]
    author: str
    source: str
    published_at: datetime | None
    valid_from: datetime | None
    valid_until: datetime | None
    last_verified_at: datetime | None
    expires_at: datetime | None
    expired: bool
    not_yet_valid: bool
    related: list[TableRef]


def _fields(revision: Revision) -> list[AgentField]:
    values = dict(revision.fields)
    return [
        AgentField(s.key, s.label, s.type, values[s.key], s.audience.value)
        for s in template_of(revision)
        if values.get(s.key) not in (None, "", [])
    ]


def live_table(session: Session, code: str, now: datetime) -> AgentTable:
    """The agent's view of table ``code``; NotFound unless it has a live revision."""
    try:
        table = tables.get_table(session, code)
    except NotFound:
        table = None
    live = table.live_revision if table is not None else None
    if table is None or live is None:
        raise NotFound(
            f"No live knowledge table with code {code!r}; drafts and archived tables are in the "
            "admin desk."
        )
    return AgentTable(
        code=table.code,
        title=live.title,
        category=table.package.category.name,
        package=table.package.name,
        audience=table.audience.value,
        revision=live.number,
        questions=list(live.questions),
        tags=list(live.tags),
        fields=_fields(live),
        author=table.author,
        source=table.source,
        published_at=live.published_at,
        valid_from=table.valid_from,
        valid_until=table.valid_until,
        last_verified_at=table.last_verified_at,
        expires_at=expires_at(table),
        expired=is_stale(table, now),
        not_yet_valid=not_yet_valid(table, now),
        related=[TableRef(t.code, t.title) for t in table.related if t.live_revision is not None],
    )


def is_public(table: AgentTable) -> bool:
    return table.audience == Audience.PUBLIC.value


def open_flags_by(session: Session, user_name: str, codes: Iterable[str]) -> dict[str, list[Flag]]:
    """The open flags ``user_name`` raised on each of ``codes`` (codes without any left out)."""
    wanted = list(dict.fromkeys(codes))
    if not wanted:
        return {}
    rows = session.execute(
        select(KnowledgeTable.code, Flag)
        .join(Flag, Flag.table_id == KnowledgeTable.id)
        .where(
            KnowledgeTable.code.in_(wanted),
            Flag.raised_by == user_name,
            Flag.resolved_at.is_(None),
        )
        .order_by(Flag.id)
    ).all()
    out: dict[str, list[Flag]] = {}
    for code, flag in rows:
        out.setdefault(code, []).append(flag)
    return out
